"""Write python/ember/_torch_names.txt: the public top-level names of the installed torch,
one a line. ember's ``__getattr__`` reads it to say plainly that a name is torch's and not
in ember yet, instead of letting Python guess a different ember name.

    python tools/make_torch_names.py
"""

from pathlib import Path

import torch

OUT = Path(__file__).resolve().parents[1] / "python" / "ember" / "_torch_names.txt"


def main() -> None:
    names = sorted(n for n in dir(torch) if not n.startswith("_"))
    OUT.write_text(f"# public names of torch {torch.__version__}\n" + "\n".join(names) + "\n")
    print(f"{OUT}: {len(names)} names")


if __name__ == "__main__":
    main()
