"""SQL is always parameterised: a static check (ast) of every ``execute``/``executemany``/``executescript`` call
(and asyncpg's ``fetch``/``fetchrow``/``fetchval``) in services/. The SQL text of a call may be built only from
string constants, ``+`` and f-strings whose interpolations are on the explicit list below (module constants, ``?``
placeholder lists, ``$n`` placeholder numbers, a few locals and helpers that are themselves checked to be built the
same way). ``%``, ``.format`` (but with ``$n`` placeholder constants) and interpolating anything else fail."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
EXECUTE = {"execute", "executemany", "executescript", "fetch", "fetchrow", "fetchval"}
PG_PLACEHOLDER = re.compile(r"\$[0-9]+")

# Everything that may appear inside SQL text besides string constants, and why it is safe. Every assignment to
# one of these names, anywhere in the module that uses it, is checked to be safe SQL text (or a safe loop value).
ALLOWED_NAMES = {
    "ENTRY_COLUMNS": "module constant: the entries column list",
    "LIVE": "module constant: the not-expired condition, with a ? placeholder",
    "_COLUMNS": "module constant: the proposals column list",
    "WAL_LIMIT_BYTES": "module constant (int) for PRAGMA journal_size_limit",
    "INLINE_BUSY_MS": "module constant (int) for PRAGMA busy_timeout",
    "marks": "a ','-joined list of ? placeholders",
    "version": "a schema version from range() (PRAGMA user_version cannot take a parameter)",
    "statement": "one statement of the constant MIGRATIONS list",
    "sql": "a local query text, itself built only from what this list allows",
    "AGENT_SQL": "module constant: the agents SELECT ... JOIN prefix with their open-task load",
    "COLUMNS": "module constant: the work queue's column list",
    "QUEUED_COLUMNS": "module constant (services/memory/work_rows.py): a queued task's columns for placement",
    "HELD_COLUMNS": "module constant (services/memory/work_rows.py): a running task's brief columns",
    "LOCKED_BEGIN": "module constant (postgres/schema.py): BEGIN and the state lock on an int constant",
    "SHARED_BEGIN": "module constant (postgres/schema.py): BEGIN and the state lock shared, on an int constant",
    "NAMED_LOCK": "module constant (postgres/schema.py): an advisory lock on a name, $1/$2 placeholders only",
    "NAMED_LOCKS": "module constant (postgres/schema.py): advisory locks on names, $1/$2 placeholders only",
    "RENEW": "module constant (postgres/agents_sql.py): the task-lease renewal CTEs, $n placeholders only",
    "TASK_SQL": "module constant (postgres/work_sql.py): a task with its attempts and leases, $n placeholders only",
    "TASK_FIELDS": "module constant (postgres/work_sql.py): TASK_SQL's selection, $n placeholders only",
    "LEDGER": "module constant (postgres/work_sql.py): the end of a hold as CTEs, $1-$6 placeholders only",
    "WORK_SQL": "module constant (postgres/work_sql.py): TASK_SQL with the dependencies' results",
    "DEPS_SQL": "module constant (postgres/work_sql.py): the dependencies' results subquery, no placeholder",
    "ATTEMPT_COLUMNS": "module constant (services/memory/work_rows.py): an attempt's columns",
    "MESSAGE_SQL": "module constant: the messages SELECT column list",
    "TRAIL_COLUMNS": "module constant (postgres/agents_sql.py): the trails column list",
    "UPSERT": "module constant: the entry upsert, $n placeholders only",
    "RETURNING": "module constant: the RETURNING clause of an entry write",
    "UPSERT_IF_ABSENT": "module constant: the entry upsert on compare-and-set 0",
    "UPDATE_IF_VERSION": "module constant: the entry update on compare-and-set N",
    "CURRENT_VERSION": "module constant: the live version of an entry",
    "live": "a local: LIVE with its $n placeholder",
    "migration": "one migration of the constant MIGRATIONS list",
    "text.RANK_WEIGHTS": "module constant: the ts_rank weights array literal",
    "TOUCH_CTES": "module constant (postgres/agents_sql.py): an agent's touch as CTEs, $1/$2 placeholders only",
    "FOUND_AND_CAME_BACK": "module constant (postgres/agents_sql.py): two selections over those CTEs",
    "MESSAGE_COLUMNS": "module constant (services/memory/message_rules.py): the messages column list",
    "ACKS_SQL": "module constant (postgres/messages.py): the recipients and acks subqueries",
    "PUBLISH_SQL": "module constant (postgres/notify.py): pg_notify over the $2 array of payloads on channel $1",
    "recipients_sql": "a local: the first element of _recipients_sql's answer (checked as a helper)",
}
# Helpers whose return value may be part of SQL text: every return expression is checked to be safe SQL text.
ALLOWED_CALLS = {
    "self._tag_filter": "one ' AND EXISTS (... t.tag = ?)' per tag: placeholders only",
    "_filtered": "(sql + ' AND ...' conditions on $n / ? placeholders, params): its text part is checked",
    "_recipients_sql": "(one of three constant queries, params): its text part is checked",
}
# Loop variables: `for NAME in ITER` where ITER is one of these (values come from the code, not the caller).
SAFE_LOOP_SOURCES = {"range", "MIGRATIONS"}


def dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def is_placeholder_list(node: ast.AST) -> bool:
    """``",".join("?" * n)`` or ``",".join("?" for _ in xs)``: a list of placeholders, whatever n is."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
        and len(node.args) == 1
    ):
        return False
    arg = node.args[0]
    if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mult):
        return any(isinstance(side, ast.Constant) and side.value == "?" for side in (arg.left, arg.right))
    if isinstance(arg, ast.GeneratorExp):
        return is_sql_text(arg.elt)
    return False


def is_placeholder_format(node: ast.Call) -> bool:
    """``SAFE.format(now="$3")``: safe SQL text whose fields are filled with $n placeholder constants only."""
    if not (isinstance(node.func, ast.Attribute) and node.func.attr == "format" and is_sql_text(node.func.value)):
        return False
    values = [*node.args, *(k.value for k in node.keywords)]
    return all(
        isinstance(v, ast.Constant) and isinstance(v.value, str) and PG_PLACEHOLDER.fullmatch(v.value) for v in values
    )


def is_number_constant(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float)
    if isinstance(node, ast.BinOp):
        return is_number_constant(node.left) and is_number_constant(node.right)
    return isinstance(node, ast.UnaryOp) and is_number_constant(node.operand)


def is_sql_text(node: ast.AST) -> bool:
    """Text that can only be made of constants, allowed names and placeholders."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, int))
    if isinstance(node, ast.JoinedStr):
        return all(
            isinstance(part, ast.Constant) or (isinstance(part, ast.FormattedValue) and is_sql_text(part.value))
            for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return is_sql_text(node.left) and is_sql_text(node.right)
    if is_number_constant(node):
        return True  # arithmetic on numeric constants (64 * 1024 * 1024)
    if isinstance(node, ast.IfExp):
        return is_sql_text(node.body) and is_sql_text(node.orelse)
    if isinstance(node, (ast.Name, ast.Attribute)):
        return dotted(node) in ALLOWED_NAMES
    if isinstance(node, ast.Call):
        if dotted(node.func) == "len":  # an int: a $n placeholder's number (the parameters so far)
            return True
        if is_placeholder_format(node):
            return True
        return is_placeholder_list(node) or dotted(node.func) in ALLOWED_CALLS
    return False  # %, .format(), calls, subscripts, ...: not provably constant


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.what}"


def sql_argument(call: ast.Call) -> ast.AST | None:
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg in ("sql", "sql_script")), None)


def check_module(path: Path) -> tuple[int, list[Finding]]:
    """(number of execute calls, findings) for one module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    findings: list[Finding] = []
    calls = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in EXECUTE:
            calls += 1
            sql = sql_argument(node)
            if sql is None or not is_sql_text(sql):
                findings.append(Finding(path, node.lineno, f"SQL built from non-constant parts: {ast.unparse(node)}"))
                continue
            names = {dotted(sub) for sub in ast.walk(sql) if isinstance(sub, (ast.Name, ast.Attribute))}
            helpers = {dotted(sub.func) for sub in ast.walk(sql) if isinstance(sub, ast.Call)}
            findings += check_definitions(path, enclosing_scopes(node, parents, tree), names & set(ALLOWED_NAMES))
            findings += check_helpers(path, tree, helpers & set(ALLOWED_CALLS))
    findings += check_helpers(path, tree, {h for h in ALLOWED_CALLS if not h.startswith("self.")})
    return calls, sorted(set(findings), key=lambda f: (f.line, f.what))


def enclosing_scopes(node: ast.AST, parents: dict[ast.AST, ast.AST], tree: ast.Module) -> list[ast.AST]:
    """The functions around ``node`` (closures included), innermost first, then the module."""
    scopes: list[ast.AST] = []
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scopes.append(node)
    return [*scopes, tree]


def scope_nodes(scope: ast.AST) -> list[ast.AST]:
    """The nodes of one scope, not descending into nested functions (module scope: class bodies included, for
    dataclass fields)."""
    out: list[ast.AST] = []
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        out.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))
    return out


def assignments(node: ast.AST) -> list[tuple[ast.AST, ast.AST | None]]:
    """(target, value) pairs that ``node`` assigns; value None when it cannot be told apart (unpacking)."""
    pairs: list[tuple[ast.AST, ast.AST | None]] = []
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs += list(zip(target.elts, node.value.elts, strict=False))
            elif (
                isinstance(target, ast.Tuple)
                and isinstance(node.value, ast.Call)
                and dotted(node.value.func) in ALLOWED_CALLS
            ):  # (text, params) = helper(...): the text is what the helper returns first (checked by check_helpers)
                pairs += [(target.elts[0], node.value), *((elt, None) for elt in target.elts[1:])]
            elif isinstance(target, ast.Tuple):
                pairs += [(elt, None) for elt in target.elts]
            else:
                pairs.append((target, node.value))
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
        value = node.value
        if isinstance(value, ast.Call) and dotted(value.func) == "field":  # a dataclass field(default=...)
            value = next((k.value for k in value.keywords if k.arg == "default"), None)
        pairs.append((node.target, value))
    return pairs


def check_definitions(path: Path, scopes: list[ast.AST], names: set[str | None]) -> list[Finding]:
    """Every place in the scopes around a use that gives an allowed name its value gives it safe SQL text."""
    findings: list[Finding] = []
    for scope in scopes:
        for node in scope_nodes(scope):
            if isinstance(node, (ast.For, ast.comprehension)) and dotted(node.target) in names:
                src: ast.AST = node.iter
                while isinstance(src, (ast.Subscript, ast.Attribute, ast.Call)):
                    src = src.func if isinstance(src, ast.Call) else src.value
                if dotted(src) not in SAFE_LOOP_SOURCES:
                    line = getattr(node, "lineno", getattr(node.iter, "lineno", 0))
                    what = f"loop variable {dotted(node.target)!r} used in SQL comes from {ast.unparse(node.iter)}"
                    findings.append(Finding(path, line, what))
            for target, value in assignments(node):
                name = dotted(target)
                # a dataclass field `_agent_sql` in a class body is used as `self._agent_sql`
                key = name if name in names else f"self.{name}" if f"self.{name}" in names else None
                if key is not None and (value is None or not is_sql_text(value)):
                    shown = ast.unparse(value) if value is not None else "an unpacked value"
                    findings.append(Finding(path, node.lineno, f"{key!r} (used in SQL) is assigned {shown}"))
    return findings


def check_helpers(path: Path, tree: ast.Module, helpers: set[str | None]) -> list[Finding]:
    findings = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
            f"self.{fn.name}" in helpers or fn.name in helpers
        ):
            for ret in ast.walk(fn):
                value = ret.value if isinstance(ret, ast.Return) else None
                if isinstance(value, ast.Tuple) and value.elts:  # (text, params): the text is checked
                    value = value.elts[0]
                if isinstance(ret, ast.Return) and (value is None or not is_sql_text(value)):
                    findings.append(Finding(path, ret.lineno, f"helper {fn.name} (used in SQL) returns other text"))
    return findings


def test_every_sql_statement_is_parameterised() -> None:
    total = 0
    findings: list[Finding] = []
    for path in sorted(SERVICES.rglob("*.py")):
        calls, found = check_module(path)
        total += calls
        findings += found
    assert total >= 30, f"only {total} execute calls found: is the scan looking at the right tree?"
    assert not findings, "SQL built from values instead of ? parameters:\n" + "\n".join(map(str, findings))


def test_the_check_catches_interpolated_values(tmp_path: Path) -> None:
    """The checker itself: each of these must be reported."""
    bad_sources = [
        "def f(conn, ns):\n    conn.execute(f\"SELECT * FROM entries WHERE namespace = '{ns}'\")\n",
        "def f(conn, ns):\n    conn.execute(\"SELECT * FROM entries WHERE namespace = '%s'\" % ns)\n",
        "def f(conn, ns):\n    conn.execute(\"SELECT * FROM entries WHERE namespace = '{}'\".format(ns))\n",
        'def f(conn, ns):\n    conn.execute("SELECT * FROM entries WHERE namespace = \'" + ns + "\'")\n',
        'def f(conn, ns):\n    sql = "SELECT * FROM e WHERE k = " + ns\n    conn.execute(sql)\n',
        'def f(conn, ns):\n    sql = "SELECT 1"\n    sql += f" AND k = {ns}"\n    conn.execute(sql)\n',
        'def f(conn, xs):\n    marks = ",".join(xs)\n    conn.execute(f"SELECT 1 WHERE k IN ({marks})", xs)\n',
        'def f(conn, cols):\n    for version in cols:\n        conn.execute(f"PRAGMA user_version = {version}")\n',
        'LIVE = "(x > {now})"\ndef f(conn, ns):\n    conn.fetchrow(LIVE.format(now=ns))\n',
        'LIVE = "(x > {now})"\ndef f(conn):\n    conn.fetch(LIVE.format(now="1; DROP TABLE e"))\n',
        "async def f(conn, ns):\n    await conn.fetchval(f\"SELECT 1 WHERE k = '{ns}'\")\n",
        "def f(conn, q):\n    conn.executemany(q, [])\n",
    ]
    for i, source in enumerate(bad_sources):
        path = tmp_path / f"bad{i}.py"
        path.write_text(source)
        calls, findings = check_module_outside_root(path)
        assert calls == 1 and findings, f"not caught:\n{source}"
    good = tmp_path / "good.py"
    good.write_text(
        'LIVE = "(x > ?)"\n'
        "def f(conn, ns, ids):\n"
        '    marks = ",".join("?" * len(ids))\n'
        '    sql = f"SELECT 1 FROM e WHERE ns = ? AND {LIVE} AND id IN ({marks})"\n'
        '    sql += " ORDER BY id"\n'
        "    conn.execute(sql, [ns, *ids])\n"
    )
    assert check_module_outside_root(good) == (1, [])


def check_module_outside_root(path: Path) -> tuple[int, list[str]]:
    calls, findings = check_module(path)
    return calls, [f.what for f in findings]
