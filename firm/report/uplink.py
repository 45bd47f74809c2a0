"""Uplink measured from serialized messages: a ClientTask wrapper that serializes exactly what each
client uploads, per algorithm, with ``np.save`` into a BytesIO.

    FIRM, Local-MGDA, FedAvg-LS : y_i                          (d,)
    FMGDA, FSMGDA               : Delta_{i,1..M}                (M, d)
    FedCMOO, exact-lambda       : sketch (L_i (M, r), R_i (r, d)), then y_i (d,)
    FedCMOO, official (default) : sketch and Gram B_i B_i^T (M, M); then the cross term
                                  D_i (S - C_i)^T and the residual Gram D_i D_i^T (M, M each); then y_i

Per round it logs the serialized size (``np.save`` headers included) and the payload (serialized size
minus each header, read back with ``numpy.lib.format``); the report checks the payload against the
records' ``uplink_bytes``. The wrapper can also give every client its own preference p_i (preference
heterogeneity), passed to the clients' local updates in place of the shared p.
"""

from __future__ import annotations

import copy
import io

import numpy as np

from firm_core.federated import as_client_task, randomized_svd_sketch
from firm_core.federated.sketch import official_client_terms, sketch_reconstruction


def serialized_size(arrays) -> tuple[int, int]:
    """(bytes of np.save of each array into one BytesIO, payload bytes = that minus the .npy headers).
    Each array is read back and compared, so a message that does not round-trip raises."""
    buf = io.BytesIO()
    offsets = []
    for arr in arrays:
        start = buf.tell()
        np.save(buf, np.ascontiguousarray(arr, dtype=np.float64), allow_pickle=False)
        offsets.append(start)
    total = buf.tell()
    payload = total
    for arr, start in zip(arrays, offsets):
        buf.seek(start)
        major, _ = np.lib.format.read_magic(buf)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        read_header(buf)
        payload -= buf.tell() - start
        buf.seek(start)
        back = np.load(buf, allow_pickle=False)
        if back.shape != np.shape(arr) or not np.array_equal(back, arr, equal_nan=True):
            raise ValueError("serialized_size: a message did not round-trip through np.save / np.load")
    return total, payload


class UplinkRecorder:
    """ClientTask wrapper: delegates to the wrapped task and serializes every client's upload.

    ``sketch_rank``: FedCMOO's r (the sketch is recomputed here from copies of the clients' generators,
    so the run's randomness is untouched). ``fedcmoo_variant``: "official" adds the three M x M terms
    of the server's Gram estimate; their sizes are exact, and their content is computed from the
    clients' unweighted Jacobians with S replaced by the plain sum of the round's sketches (the
    server's recompression of that sum, which the wrapper does not see, changes values, not sizes). ``client_preferences``: None, or (N, M) rows p_i.
    ``close_round()`` (call it from the progress hook) returns and resets the round's
    (serialized bytes, payload bytes, messages)."""

    def __init__(self, problem, *, sketch_rank: int = 1, client_preferences=None, fedcmoo_variant: str = "official"):
        self.inner = as_client_task(problem)
        self.num_clients = self.inner.num_clients
        self.num_objectives = self.inner.num_objectives
        self.dim = self.inner.dim
        self.client_weights = self.inner.client_weights
        self.sketch_rank = sketch_rank
        self.fedcmoo_variant = fedcmoo_variant
        self.prefs = None if client_preferences is None else np.asarray(client_preferences, dtype=np.float64)
        self._round = [0, 0, 0]

    def _log(self, arrays) -> None:
        total, payload = serialized_size(arrays)
        self._round[0] += total
        self._round[1] += payload
        self._round[2] += 1

    def close_round(self) -> tuple[int, int, int]:
        out = tuple(self._round)
        self._round = [0, 0, 0]
        return out

    def initial_point(self):
        return self.inner.initial_point()

    def describe(self):
        return self.inner.describe()

    def evaluate(self, x):
        return self.inner.evaluate(x)

    def local_update(self, clients, x, rngs, *, preference, **kw):
        if self.prefs is not None:
            preference = self.prefs[np.asarray(clients, dtype=np.int64)]
        res = self.inner.local_update(clients, x, rngs, preference=preference, **kw)
        for j in np.flatnonzero(np.asarray(res.valid, dtype=bool)):
            self._log([res.y[j]])
        return res

    def per_objective_update(self, clients, x, rngs, **kw):
        updates, valid, reasons = self.inner.per_objective_update(clients, x, rngs, **kw)
        for j in np.flatnonzero(np.asarray(valid, dtype=bool)):
            self._log([np.asarray(updates)[j]])
        return updates, valid, reasons

    def sketch_jacobians(self, clients, x, rngs):
        jac, ok, reasons = self.inner.sketch_jacobians(clients, x, rngs)
        ok = np.asarray(ok, dtype=bool)
        if ok.any():
            copies = [copy.deepcopy(r) for r, good in zip(rngs, ok) if good]
            good = np.asarray(jac)[ok]
            left, right = randomized_svd_sketch(good, self.sketch_rank, copies)
            if self.fedcmoo_variant == "official":
                sketches = sketch_reconstruction(left, right)
                grams, crosses, residuals = official_client_terms(good, sketches, sketches.sum(axis=0))
                for j in range(left.shape[0]):
                    self._log([left[j], right[j], grams[j]])
                    self._log([crosses[j], residuals[j]])
            else:
                for j in range(left.shape[0]):
                    self._log([left[j], right[j]])
        return jac, ok, reasons
