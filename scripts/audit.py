"""`make audit` (run by .ci/run): pip-audit over both lock files, read from the files alone (no pip, no install),
against PyPI's vulnerability data. Prints the vulnerabilities found, with the versions that fix them, and exits 1
if there is any. A package pip-audit could not check (the vulnerability service did not answer for it) is counted
and named in a warning, not a failure: an audit that checked nothing says so loudly instead of passing quietly.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ["requirements.txt", "requirements-dev.txt"]


def main() -> int:
    command = [str(Path(sys.executable).parent / "pip-audit"), "--progress-spinner", "off", "--disable-pip"]
    command += ["--format", "json"]
    for lock in LOCKS:
        command += ["--requirement", lock]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603 - the venv's pip-audit
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        print(done.stdout + done.stderr, file=sys.stderr)
        print(f"pip-audit failed (exit {done.returncode}) without a report", file=sys.stderr)
        return 1

    dependencies = report["dependencies"]
    skipped = [d for d in dependencies if "skip_reason" in d]
    found = [(d, v) for d in dependencies for v in d.get("vulns", [])]
    for dependency, vuln in found:
        fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed release yet"
        aliases = " ".join(vuln.get("aliases", []))
        print(f"VULNERABLE {dependency['name']}=={dependency['version']}: {vuln['id']} {aliases} (fixed in: {fixes})")
    audited = len(dependencies) - len(skipped)
    print(f"pip-audit: {len(dependencies)} packages locked in {' and '.join(LOCKS)}, {audited} audited, ", end="")
    print(f"{len(found)} known vulnerabilities.")
    if skipped:
        print(
            f"WARNING: pip-audit could not audit {len(skipped)} of {len(dependencies)} packages "
            f"({', '.join(d['name'] for d in skipped[:5])}{', …' if len(skipped) > 5 else ''}): "
            f"{skipped[0]['skip_reason']}",
            file=sys.stderr,
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
