"""`firm run` as a child process for the interrupt tests: the real command line and runner, with the
plots switched off (they are drawn after every result is saved and would dominate the test's time).

    python -m tests.experiments._interruptible_run run --config C --out DIR --quiet
"""

from firm.experiments import runner

runner.draw_run_plots = lambda *args, **kwargs: {}

if __name__ == "__main__":
    from firm.cli import main

    main()
