"""Check that the lock files say what their inputs ask for (`make lint`): every package pinned in
requirements.in / requirements-dev.in is locked at that version, and nothing is locked as a direct
requirement that the input no longer names. The usual cause of a failure: an input was edited
without `make lock`.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS = [("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt")]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;#\\]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def input_pins(path: Path) -> tuple[dict[str, str], list[str]]:
    """The pins of an input file and of the inputs it includes (-r), and its lines that are no pin."""
    pins: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            included, more = input_pins(path.parent / line.split(None, 1)[1])
            pins.update(included)
            problems += more
            continue
        match = PIN.match(line)
        if match is None:
            problems.append(f"{path.name}:{number}: not an exact pin (name==version): {raw.strip()}")
            continue
        pins[normalise(match[1])] = match[3]
    return pins, problems


def locked(path: Path, inputs: set[str]) -> tuple[dict[str, str], set[str]]:
    """Every package of a lock file with its version, and those the lock says come from the inputs (-r …)."""
    versions: dict[str, str] = {}
    direct: set[str] = set()
    current = None
    for raw in path.read_text().splitlines():
        match = PIN.match(raw)
        if match is not None:
            current = normalise(match[1])
            versions[current] = match[3]
            continue
        line = raw.strip().lstrip("#").strip()
        from_input = line.startswith(("-r ", "via -r ")) and line.rsplit(None, 1)[-1] in inputs
        if current is not None and from_input:
            direct.add(current)
    return versions, direct


def main() -> int:
    problems: list[str] = []
    for input_name, lock_name in PAIRS:
        pins, more = input_pins(ROOT / input_name)
        problems += more
        inputs = {name for name, _ in PAIRS}
        versions, direct = locked(ROOT / lock_name, inputs)
        for name, version in sorted(pins.items()):
            if name not in versions:
                problems.append(f"{input_name} pins {name}=={version}, {lock_name} lacks it")
            elif versions[name] != version:
                problems.append(f"{input_name} pins {name}=={version}, {lock_name} locks {name}=={versions[name]}")
        for name in sorted(direct - pins.keys()):
            problems.append(f"{lock_name} locks {name} as asked for by an input, which no longer names it")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("The lock files are out of date: run `make lock`.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
