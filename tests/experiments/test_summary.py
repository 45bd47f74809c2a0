"""The summary table: one aligned row per algorithm; undefined metrics shown as '-'."""

import math

from firm.experiments.summary import SummaryRow, format_table


def _row(label, **kw):
    base = dict(label=label, rounds=10, phi=1.234e-3, d_lambda=5e-4, objectives=(1.5, 2.25), dist_pareto=0.01,
                uplink_floats_per_round=200.0, round_time_ms=1.5, total_time_s=0.25)
    return SummaryRow(**{**base, **kw})


def test_table_rows_columns_and_undefined_metrics():
    text = format_table([_row("FIRM (beta=50)"), _row("FMGDA", d_lambda=math.nan, dist_pareto=None, uplink_floats_per_round=400.0)])
    header, rule, firm, fmgda = text.splitlines()
    assert header.split()[:4] == ["algorithm", "rounds", "phi(x_T)", "D_lambda"]
    assert "F1(x_T)" in header and "F2(x_T)" in header and "uplink/round" in header
    assert set(rule) == {"-"} and len(rule) == len(header)
    assert len(firm) == len(fmgda) == len(header)  # aligned
    assert firm.split()[3:5] == ["1.234e-03", "5.000e-04"]
    assert fmgda.split()[2:4] == ["1.234e-03", "-"]
    assert "1.5000" in fmgda and "2.2500" in fmgda and " 400 " in fmgda
    cells = fmgda.split()
    assert cells[cells.index("2.2500") + 1] == "-"  # dist(PS) unknown


def test_row_from_history_totals(tmp_path):
    from firm_core.federated.history import History, RoundRecord

    h = History()
    for t in range(3):
        h.append(RoundRecord(round=t, phi=1.0 / (t + 1), objectives=(1.0, 2.0), d_lambda=0.1, d_x=0.2, dist_pareto=None,
                             lambda_mean=(0.5, 0.5), uplink_floats=20 + t, downlink_floats=20, uplink_bytes=8 * (20 + t),
                             downlink_bytes=160, wall_time=0.002, participants=(0, 1)))
    h.final_point = {"round": 3, "phi": 0.2, "objectives": [0.9, 1.8], "dist_pareto": None, "x": [0.0]}
    row = SummaryRow.from_history("X", h, total_time_s=1.0)
    assert (row.rounds, row.phi, row.objectives, row.dist_pareto) == (3, 0.2, (0.9, 1.8), None)
    assert row.uplink_floats_per_round == 21.0
    assert math.isclose(row.round_time_ms, 2.0)
    assert row.d_lambda == 0.1
