"""Planted defects that the default test suite must catch: a hand-listed mutation check.

    python tests/scripts/mutation_check.py              # every mutant, 2 at a time
    python tests/scripts/mutation_check.py --list       # the mutants and their tests
    python tests/scripts/mutation_check.py --only heat-zero-ratio --jobs 1

Each mutant is one small textual edit (a wrong sign, constant, index or condition) in a
closed form (linear, heat, variance, gini, gini_coefficient, mean-field), the method
resolver, the panel reader or the Jetstream builder. For each one the tracked files of this
checkout (``git ls-files``, as they are on disk) are copied to a temporary directory, the
edit is applied there (its target text must occur exactly once, so the script fails loudly
when the code moves), and the mutant's tests from the default suite run inside the copy
(``pytest -x -n 0``, the copy first on ``PYTHONPATH``). A mutant is *killed* when pytest
reports failing tests (exit 1) or a collection error (exit 2); it *survives* when they
pass. Before the mutants, the unmutated copy runs every selected test and must pass, so a
kill is the defect's doing. Prints a table (mutant, tests run, killed, seconds) and exits 1
if any mutant survives (or the unmutated copy fails): a survivor is a gap in the suite,
closed by a test in the default suite that fails on it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLOSED = "kernels/_closed.py"  # jaxattr/kernels is a link to the repository's kernels/
PATH = "kernels/_path.py"
BUILTINS = "jaxattr/values/_builtins.py"
METHODS = "jaxattr/_methods.py"
PANEL_FILE = "jaxattr/io/_panel_file.py"
JETSTREAM = "jaxattr/data/_jetstream.py"

# The tests each mutant runs: small sets of default-suite tests that check the code against
# an independent reference (NumPy, float64 definitions, hand-counted events).
T_GINI_STREAMED = "tests/test_exactness.py::test_gini_forms_out_of_core_report_the_numpy_value"
T_CLOSED = (  # quick, sharp tests first: -x stops at the first failure
    T_GINI_STREAMED,
    "tests/test_kernels.py::test_heat_closed_form_zero_matches_design_table",
    "tests/test_kernels.py::test_heat_zero_baseline_quadrature_and_analytic_agree",
    "tests/test_kernels.py::test_closed_form_equals_path_when_integrand_is_linear",
    "tests/test_exactness.py::test_closed_forms_match_float64_with_offsets_tails_and_outliers",
)
T_GINI_COEFFICIENT = (
    "tests/test_exactness.py::test_gini_coefficient_closed_form_against_numpy_and_the_path",
    T_GINI_STREAMED,
)
T_MEAN_FIELD = (
    "tests/test_kernels.py::test_mean_field_value_with_padding_agents_equals_the_unpadded_value",
    "tests/test_kernels.py::test_meanfield_path_streaming_over_agents_is_exact",
    "tests/test_kernels.py::test_generic_and_meanfield_paths_agree",
    "tests/test_plugins.py",
)
T_RESOLVER = (
    "tests/test_attribute.py::test_a_values_default_baseline_is_used",
    "tests/test_attribute.py::test_baselines",
    "tests/test_attribute.py::test_contract_shapes_and_numpy",
)
T_PANEL = ("tests/test_io.py",)
T_JETSTREAM = ("tests/test_jetstream.py",)


@dataclass(frozen=True)
class Mutant:
    """One planted defect: replace ``old`` (found exactly once in ``path``) by ``new``."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    # ------------------------------------------------------------------ linear
    Mutant(
        "linear-gradient-scale",
        CLOSED,
        "return jnp.ones((1, 1), z.dtype) / w",
        "return jnp.ones((1, 1), z.dtype) / (w + 1)",
        T_CLOSED,
    ),
    Mutant(
        "linear-finish-drops-feature",
        CLOSED,
        "fz = sum(agg[:d]) / w",
        "fz = sum(agg[1:d]) / w",
        T_CLOSED,
    ),
    # ------------------------------------------------------------------ heat
    Mutant(
        "heat-zero-ratio",
        CLOSED,
        "g = _prod_others(mz, d) * ratio / d",
        "g = _prod_others(mz, d) * ratio / (d + 1)",
        T_CLOSED,
    ),
    Mutant(
        "heat-path-sign",
        CLOSED,
        "ma = mb[None, :] + alpha[:, None] * (mz - mb)[None, :]",
        "ma = mb[None, :] + alpha[:, None] * (mz + mb)[None, :]",
        T_CLOSED,
    ),
    # ------------------------------------------------------------------ variance
    Mutant(
        "variance-gradient-sign",
        CLOSED,
        "g = _shifted_composite(z[::-1], ref_z[::-1]) - mean",
        "g = _shifted_composite(z[::-1], ref_z[::-1]) + mean",
        T_CLOSED,
    ),
    Mutant(
        "variance-finish-sign",
        CLOSED,
        "fz = agg[1] / w - mean * mean",
        "fz = agg[1] / w + mean * mean",
        T_CLOSED,
    ),
    # ------------------------------------------------------------------ gini
    Mutant(
        "gini-gradient-constant",
        CLOSED,
        '_need(c, "c", "gini_gradient", _C_HINT)[None, :] * (2.0 / (w * w))',
        '_need(c, "c", "gini_gradient", _C_HINT)[None, :] * (1.0 / (w * w))',
        T_CLOSED,
    ),
    Mutant(
        "gini-finish-denominator",
        CLOSED,
        "return 2.0 * agg[0] / (w * w), jnp.zeros((), agg[0].dtype), ()",
        "return 2.0 * agg[0] / (w * (w - 1)), jnp.zeros((), agg[0].dtype), ()",
        T_CLOSED,
    ),
    # ------------------------------------------------------------------ gini coefficient
    Mutant(
        "gini-coefficient-mean-sign",
        CLOSED,
        "return 0.5 * mad / (sb + delta), jnp.zeros((), mad.dtype), (mad, sb, delta)",
        "return 0.5 * mad / (sb - delta), jnp.zeros((), mad.dtype), (mad, sb, delta)",
        T_GINI_COEFFICIENT,
    ),
    Mutant(
        "gini-coefficient-path-constant",
        CLOSED,
        "    m = sb + alpha * delta\n",
        "    m = sb + delta\n",
        T_GINI_COEFFICIENT,
    ),
    Mutant(
        "gini-coefficient-second-integral",
        CLOSED,
        "(0.5 * mad * i2 / w)",
        "(0.5 * mad * i2 / (w * w))",
        T_GINI_COEFFICIENT,
    ),
    # ------------------------------------------------------------------ mean-field
    Mutant(
        "mean-field-value-drops-agent",
        BUILTINS,
        "return self.h(jnp.mean(gz, axis=-1))",
        "return self.h(jnp.mean(gz[..., 1:], axis=-1))",
        T_MEAN_FIELD,
    ),
    Mutant(
        "mean-field-masked-denominator",
        BUILTINS,
        "return self.h(jnp.sum(gz * mask[None, :], axis=-1) / jnp.sum(mask))",
        "return self.h(jnp.sum(gz * mask[None, :], axis=-1) / mask.shape[0])",
        T_MEAN_FIELD,
    ),
    Mutant(
        "mean-field-path-unnormalised",
        PATH,
        "u = jax.vmap(jax.grad(h))(sums / total) * (weights / total)[:, None]",
        "u = jax.vmap(jax.grad(h))(sums / total) * weights[:, None]",
        T_MEAN_FIELD,
    ),
    # ------------------------------------------------------------------ resolver
    Mutant(
        "resolver-auto-never-closed",
        METHODS,
        'closed = method == "closed_form" or (method == "auto" and has_closed)',
        'closed = method == "closed_form"',
        T_RESOLVER,
    ),
    Mutant(
        "resolver-ignores-default-baseline",
        METHODS,
        "        baseline = value.default_baseline\n    b = resolve_baseline(",
        '        baseline = "zero"\n    b = resolve_baseline(',
        T_RESOLVER,
    ),
    Mutant(
        "resolver-per-step-common-baseline",
        METHODS,
        "out, kind, per_step = xp.transpose(b, (0, 2, 1)), COMMON, True",
        "out, kind, per_step = xp.transpose(b, (0, 2, 1)), COMMON, False",
        T_RESOLVER,
    ),
    # ------------------------------------------------------------------ panel reader
    Mutant(
        "panel-reader-crc-unchecked",
        PANEL_FILE,
        "if _crc(arr) != want[j]:",
        "if False:",
        T_PANEL,
    ),
    Mutant(
        "panel-reader-reversed-ids",
        PANEL_FILE,
        '        agent_ids=ids,\n        agents=agents,\n        meta=h["meta"],',
        '        agent_ids=ids[::-1],\n        agents=agents,\n        meta=h["meta"],',
        T_PANEL,
    ),
    Mutant(
        "panel-reader-time-labels",
        PANEL_FILE,
        'time_labels=[h["time_labels"][t] for t in ts],',
        'time_labels=[h["time_labels"][t] for t in sorted(ts)],',
        T_PANEL,
    ),
    # ------------------------------------------------------------------ Jetstream builder
    Mutant(
        "jetstream-reply-credited-to-replier",
        JETSTREAM,
        "credit(pm, pu, day, rep, t_replies)",
        "credit(pm, u, day, rep, t_replies)",
        T_JETSTREAM,
    ),
    Mutant(
        "jetstream-account-age-flipped",
        JETSTREAM,
        "if created is not None and created > min_created and keep[u]:",
        "if created is not None and created < min_created and keep[u]:",
        T_JETSTREAM,
    ),
    Mutant(
        "jetstream-reposts-not-counted",
        JETSTREAM,
        "credit(pm, u, day, act, t_reposts)",
        "pass",
        T_JETSTREAM,
    ),
)


def tracked_files(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True
    ).stdout
    return [p for p in out.decode().split("\0") if p]


def copy_checkout(root: Path, dest: Path, files: list[str]) -> None:
    """The tracked files as they are on disk (symbolic links kept as links)."""
    for rel in files:
        src = root / rel
        dst = dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif src.is_file():
            shutil.copy2(src, dst)


def apply(mutant: Mutant, tree: Path) -> None:
    path = tree / mutant.path
    text = path.read_text()
    found = text.count(mutant.old)
    if found != 1:
        raise SystemExit(
            f"mutation_check: mutant {mutant.name!r}: its target text occurs {found} times in "
            f"{mutant.path} (expected exactly once); the code moved: update the mutant\n"
            f"  target: {mutant.old!r}"
        )
    path.write_text(text.replace(mutant.old, mutant.new))


def _env(tree: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(tree)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("MPLBACKEND", "Agg")
    return env


def pytest_cmd(tests) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-x",
        "-n",
        "0",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        *tests,
    ]


def check_import(tree: Path) -> None:
    """The copy's jaxattr is what the tests import, not an installed one."""
    out = subprocess.run(
        [sys.executable, "-c", "import jaxattr; print(jaxattr.__file__)"],
        cwd=tree,
        env=_env(tree),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(out).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"mutation_check: the copy imports jaxattr from {out}, not {tree}")


def run_tests(tree: Path, tests, timeout: float) -> tuple[int | None, float, str]:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            pytest_cmd(tests),
            cwd=tree,
            env=_env(tree),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        rc, tail = p.returncode, (p.stdout + p.stderr)[-2000:]
    except subprocess.TimeoutExpired:
        rc, tail = None, f"timed out after {timeout:.0f} s"
    return rc, time.perf_counter() - t0, tail


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2, help="mutants run at a time (default 2)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--timeout", type=float, default=300, help="seconds per pytest run")
    p.add_argument(
        "--tests",
        nargs="+",
        metavar="TEST",
        help="run these tests for every chosen mutant instead of its own (to find tests that "
        "kill a mutant)",
    )
    p.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the run of the unmutated copy (when it is known to pass)",
    )
    args = p.parse_args(argv)
    names = [m.name for m in MUTANTS]
    if len(set(names)) != len(names):
        raise SystemExit("mutation_check: duplicate mutant names")
    chosen = list(MUTANTS)
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            raise SystemExit(f"mutation_check: unknown mutants {unknown}; see --list")
        chosen = [m for m in MUTANTS if m.name in args.only]
    if args.tests:
        chosen = [dataclasses.replace(m, tests=tuple(args.tests)) for m in chosen]
    if args.list:
        for m in chosen:
            print(f"{m.name:40s} {m.path}: {m.old.strip()!r} -> {m.new.strip()!r}")
            print(f"{'':40s} tests: {' '.join(m.tests)}")
        return 0
    if args.jobs < 1:
        raise SystemExit(f"mutation_check: --jobs must be >= 1, got {args.jobs}")

    files = tracked_files(ROOT)
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        trees = {}
        for m in chosen:  # copy and edit first: a target that moved fails before any run
            tree = Path(tmp) / m.name
            copy_checkout(ROOT, tree, files)
            apply(m, tree)
            trees[m.name] = tree
        base = Path(tmp) / "unmutated"
        copy_checkout(ROOT, base, files)
        check_import(base)
        check_import(trees[chosen[0].name])

        t_start = time.perf_counter()
        baseline_ok = True
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            if not args.no_baseline:
                selected = list(dict.fromkeys(t for m in chosen for t in m.tests))
                base_future = pool.submit(run_tests, base, selected, args.timeout * 3)
            futures = {
                m.name: pool.submit(run_tests, trees[m.name], m.tests, args.timeout) for m in chosen
            }
            results = {name: f.result() for name, f in futures.items()}
            if not args.no_baseline:
                rc, secs, tail = base_future.result()
                baseline_ok = rc == 0
                print(f"unmutated copy: {'passed' if baseline_ok else 'FAILED'} in {secs:.0f} s")
                if not baseline_ok:
                    print(tail)

        rows, survivors = [], []
        for m in chosen:
            rc, secs, tail = results[m.name]
            if rc in (1, 2):
                verdict = "yes" if rc == 1 else "yes (collection error)"
            elif rc is None:
                verdict = "yes (timed out)"
            else:
                verdict = "NO" if rc == 0 else f"? (pytest exit {rc})"
                survivors.append((m, rc, tail))
            rows.append((m.name, " ".join(t.split("::")[-1] for t in m.tests), verdict, secs))
        print()
        print("| mutant | tests run | killed | seconds |")
        print("|---|---|---|---|")
        for name, tests, verdict, secs in rows:
            print(f"| {name} | {tests} | {verdict} | {secs:.0f} |")
        print(
            f"\n{len(chosen) - len(survivors)} of {len(chosen)} mutants killed in "
            f"{time.perf_counter() - t_start:.0f} s ({args.jobs} at a time)"
        )
        for m, rc, tail in survivors:
            print(
                f"\nSURVIVED {m.name} ({m.path}: {m.old.strip()!r} -> {m.new.strip()!r}), "
                f"pytest exit {rc}:\n{tail}"
            )
    return 0 if not survivors and baseline_ok else 1


if __name__ == "__main__":
    sys.exit(main())
