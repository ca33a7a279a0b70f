"""Write ``example_lab_runs.csv``: 8 synthetic runs of a made-up lab, for notebooks 02 and 05.

The runs are simulated, not measured: the Chinchilla law with Epoch AI's exponents (alpha
0.348, beta 0.366, B 2085), E 10% and A 30% above Epoch's fit (as if the lab's tokenizer and
data differed), 1% noise on the loss, 4 model sizes from 50M to 1B parameters. The notebooks
know this law, so they can check that the posterior covers it.

Regenerate with ``python notebooks/data/make_example_runs.py`` (from the repository root).
"""

from pathlib import Path

from bayescale.data.simulate import simulate_runs

TRUTH = {"E": 2.0, "A": 630.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
SOURCE = "example-lab (synthetic)"


def main() -> Path:
    """Simulate the runs, write them beside this script, and return the file's path."""
    runs = simulate_runs(8, 1, truth=TRUTH, sigma=0.01, sizes=4, n_range=(5e7, 1e9),
                         max_tokens_per_param=40, seed=3)
    # As a lab records them: whole parameter and token counts, the loss to 4 decimals.
    table = runs[["N", "D", "loss"]].round({"N": 0, "D": 0, "loss": 4}).astype(
        {"N": "int64", "D": "int64"}).assign(source=SOURCE)
    path = Path(__file__).with_name("example_lab_runs.csv")
    table.to_csv(path, index=False)
    return path


if __name__ == "__main__":
    print(f"wrote {main()}")
