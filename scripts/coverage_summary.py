"""The short coverage report that ends `make test`: lines and branches per package and in total, from the data
`coverage run -m pytest` left in .coverage. The packages are those of [tool.coverage.run] source_pkgs in
pyproject.toml; one that does not exist is named as such, one that exists but was never imported too.
`.venv/bin/coverage report` lists the files not fully covered and the lines they miss.
"""

import json
import sys
import tempfile
import tomllib
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parent.parent


def percent(covered: int, total: int) -> str:
    return f"{100 * covered / total:5.1f}%" if total else "    –"


def main() -> int:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["coverage"]["run"]["source_pkgs"]
    cov = coverage.Coverage(data_file=str(ROOT / ".coverage"))
    cov.load()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        cov.json_report(outfile=str(out))
        report = json.loads(out.read_text())

    sums: dict[str, list[int]] = {name: [0, 0, 0, 0] for name in packages}
    for path, data in report["files"].items():
        package = Path(path).parts[0]
        summary = data["summary"]
        counts = sums.setdefault(package, [0, 0, 0, 0])
        counts[0] += summary["covered_lines"]
        counts[1] += summary["num_statements"]
        counts[2] += summary["covered_branches"]
        counts[3] += summary["num_branches"]

    print("Coverage in the tests' own process (lines and branches):")
    for package, (lines, statements, branches, all_branches) in sums.items():
        if not (ROOT / package).is_dir():
            print(f"  {package:<18} not present")
        elif statements + all_branches == 0:
            print(f"  {package:<18} never imported")
        else:
            print(
                f"  {package:<18} {percent(lines + branches, statements + all_branches)}"
                f"   {lines}/{statements} lines, {branches}/{all_branches} branches"
            )
    totals = report["totals"]
    covered = totals["covered_lines"] + totals["covered_branches"]
    print(f"  {'total':<18} {percent(covered, totals['num_statements'] + totals['num_branches'])}")
    print("The files not fully covered, and the lines they miss: .venv/bin/coverage report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
