"""Problems on real data that ship offline with an installed package (needs ``pip install 'firm[data]'``).

The scikit-learn import happens only when a data set is loaded, so importing this package is cheap
and the Dirichlet split helper works without the extra.
"""

from .logistic import DATASETS, DirichletLogisticRegression
from .splits import dirichlet_label_split

__all__ = ["DATASETS", "DirichletLogisticRegression", "dirichlet_label_split"]
