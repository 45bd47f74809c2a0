"""Former name of :mod:`firm_core.validation`, kept so existing imports keep working."""

from .validation import (  # noqa: F401
    REPR_LIMIT,
    as_real_array,
    check_array,
    check_beta,
    check_choice,
    check_finite_array,
    check_gram,
    check_int,
    check_nonneg_float,
    check_positive_float,
    check_positive_int,
    check_preference,
    check_probability_vectors,
    check_real,
    check_seed,
    short_repr,
    uniform_preference,
)
