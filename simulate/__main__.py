"""``python -m simulate world=fashion n_datasets=3 seed=0 out=DIR``: write known-truth datasets."""
from harness.cli import main
from simulate.app import run

if __name__ == "__main__":
    main("simulate", run)
