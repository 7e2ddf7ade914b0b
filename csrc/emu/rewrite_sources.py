"""Copies csrc/ for the CUDA host emulator build, rewriting what a C++ compiler cannot
read in the CUDA sources. A launch statement `k<<<grid, block, smem, stream>>>(args);`
becomes `::ember_emu::launch_config(grid, block, smem, stream).with_args(args) <<=
[&](const auto&... ember_emu_args) { k(ember_emu_args...); };` (emu/emu.h); an
`extern __shared__` array becomes a pointer to the emulator's shared-memory arena; an
aligned `__shared__` declaration puts its alignment first; a static `__shared__` array is
registered with the emulator, which poisons it at the start of every block. Files whose
rewritten text is unchanged are not touched, so the build stays incremental.

Usage: python rewrite_sources.py <csrc dir> <output dir>
"""

import pathlib
import re
import sys

EXTERN_SHARED = re.compile(
    r"extern\s+__shared__\s+(?:(?:__align__|alignas)\(\d+\)\s+)?([\w:][\w:\s]*?)\s+(\w+)\[\];"
)
# `__shared__ alignas(16) T x[n]` -> `alignas(16) __shared__ ...`: __shared__ becomes
# `static`, and C++ wants alignas before it.
ALIGNED_SHARED = re.compile(r"__shared__\s+(?:__align__|alignas)\((\d+)\)")
# A static `__shared__` declaration statement (after the rewrite above).
SHARED_DECL = re.compile(r"__shared__\s+([^;]*);")


def split_top_level(text: str) -> list[str]:
    """text split at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += c in "([<"
        depth -= c in ")]>"
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def register_shared(match: re.Match) -> str:
    """The declaration, then a call that registers each declared array with the emulator,
    which fills it with 0xff bytes at the start of every block (as the arena is)."""
    names = [re.findall(r"(\w+)\s*(?:\[|$)", part.strip())[0] for part in split_top_level(match[1])]
    calls = "".join(f" ::ember_emu::shared_static({n}, sizeof({n}));" for n in names)
    return match[0] + calls


def closing(text: str, i: int, open_: str, close: str) -> int:
    """The index just past the bracket that closes the one at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        depth += text[j] == open_
        depth -= text[j] == close
        if depth == 0:
            return j + 1
    raise ValueError("unbalanced brackets after a kernel launch")


def rewrite_launches(text: str) -> str:
    while (i := text.find("<<<")) >= 0:
        start = max(text.rfind(c, 0, i) for c in ";{}") + 1
        # Skip whitespace and comment lines before the kernel; keep an `if (...)` / `else`.
        while True:
            stripped = text[start:i].lstrip()
            start = i - len(stripped)
            if stripped.startswith("//"):
                start = text.index("\n", start) + 1
            elif stripped.startswith("if"):
                start = closing(text, text.index("(", start), "(", ")")
            elif stripped.startswith("else"):
                start += 4
            else:
                break
        kernel = text[start:i].strip()
        j = text.index(">>>", i)
        config = text[i + 3 : j]
        args_open = text.index("(", j)
        args_end = closing(text, args_open, "(", ")")
        args = text[args_open + 1 : args_end - 1]
        text = (
            text[:start]
            + f" ::ember_emu::launch_config({config}).with_args({args}) <<="
            + f" [&](const auto&... ember_emu_args) {{ {kernel}(ember_emu_args...); }}"
            + text[args_end:]
        )
    return text


def rewrite(text: str) -> str:
    text = rewrite_launches(text)
    text = EXTERN_SHARED.sub(
        r"\1* const \2 = reinterpret_cast<\1*>(::ember_emu::dynamic_smem());", text
    )
    text = ALIGNED_SHARED.sub(r"alignas(\1) __shared__", text)
    return SHARED_DECL.sub(register_shared, text)


def main(src: pathlib.Path, out: pathlib.Path) -> None:
    for path in sorted(src.rglob("*")):
        if not path.is_file() or path.suffix not in {".h", ".cuh", ".cu", ".cpp"}:
            continue
        rel = path.relative_to(src)
        text = path.read_text()
        if rel.parts[0] == "cuda":
            text = rewrite(text)
        dest = out / rel
        if dest.exists() and dest.read_text() == text:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
