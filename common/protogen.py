"""Generate the Python gRPC/protobuf modules from ``protos/`` (``make proto``).

The generated files are committed under ``swarm/`` and never edited by hand;
``tests/test_protos_current.py`` fails when they are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Compile every .proto under protos/ into ``out_dir``; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    files = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {files}")
    written = []
    for f in files:
        pkg_dir = out_dir / Path(f).parent
        # every level of the generated tree is a regular package
        d = pkg_dir
        while d != out_dir:
            (d / "__init__.py").touch()
            d = d.parent
        written.extend(sorted(pkg_dir.glob(Path(f).stem + "_pb2*")))
    return written


def main() -> int:
    written = generate(ROOT)
    for path in written:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
