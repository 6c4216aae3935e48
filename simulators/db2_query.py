"""Db2 statements translated to SQLite: queries (joins, grouping, ordering as Db2 orders,
FETCH FIRST), INSERT, UPDATE and DELETE with Db2's assignment rules for every column set.

Db2 orders NULL above every value (last ascending, first descending); a query answers
DECIMAL values as text at their scale and CHAR values padded with blanks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from event_contract.catalog import CatalogError, Column, Db2Type, Table
from simulators import db2_types as types
from simulators.db2_expr import Expressions
from simulators.db2_tree import Scope, Typed, ident, literal
from simulators.db2_types import SqlType
from simulators.errors import Db2SqlError, UnsupportedSql

_DUMMY = ("SYSIBM", "SYSDUMMY1")


@dataclass
class _Built:
    """A translated query: its SQLite SELECT, and the Db2 names and types of its columns."""

    select: exp.Query
    names: list[str]
    kinds: list[SqlType]


class Queries:
    """Translates statements; `x` (set by the caller) translates their expressions.

    Args:
        lookup: the catalog, (schema or None, table) → Table.
        parse_default: a column's DEFAULT (Db2 SQL text) as an expression.
    """

    x: Expressions

    def __init__(
        self,
        lookup: Callable[[str | None, str], Table],
        parse_default: Callable[[str], exp.Expr],
    ) -> None:
        self.lookup = lookup
        self.parse_default = parse_default

    def statement(self, tree: exp.Expr) -> tuple[exp.Expr, list[str]]:
        """The SQLite form of a Db2 statement and the names of the columns it answers."""
        if isinstance(tree, exp.Insert):
            return self._insert(tree), []
        if isinstance(tree, exp.Update):
            return self._update(tree), []
        if isinstance(tree, exp.Delete):
            return self._delete(tree), []
        built = self.query(tree, None)
        return built.select, built.names

    def subquery(self, node: exp.Expr, scope: Scope) -> tuple[exp.Expr, list[SqlType]]:
        """A subquery seeing `scope` (correlated references), and its column types."""
        built = self.query(node.this if isinstance(node, exp.Subquery) else node, scope)
        return built.select, built.kinds

    def query(self, node: exp.Expr, outer: Scope | None) -> _Built:
        """A SELECT or a UNION/EXCEPT/INTERSECT of them."""
        if isinstance(node, exp.Select):
            return self._select(node, outer)
        if isinstance(node, exp.Union | exp.Except | exp.Intersect):
            return self._compound(node, outer)
        raise UnsupportedSql(f"{node.key.upper()} as a query")

    # --- SELECT ---------------------------------------------------------------------------

    def _select(self, node: exp.Select, outer: Scope | None) -> _Built:
        scope = Scope(outer=outer)
        select = exp.Select()
        sources = [node.args["from_"].this] if node.args.get("from_") else []
        if not sources:
            raise Db2SqlError("a SELECT needs a FROM clause (FROM SYSIBM.SYSDUMMY1)", -104, "42601")
        select.set("from_", exp.From(this=self._source(sources[0], scope)))
        joins = []
        for join in node.args.get("joins") or []:
            joins.append(self._join(join, scope))
        select.set("joins", joins or None)
        where = node.args.get("where")
        if where is not None:
            select.set("where", exp.Where(this=self.x.predicate(where.this, scope)))
        grouped = Scope(scope.sources, scope.outer, aggregates=True)
        items = self._items(node, grouped)
        select.set(
            "expressions", [exp.Alias(this=self.x.output(t), alias=ident(n)) for n, t in items]
        )
        self._group(node, select, scope, grouped)
        select.set("distinct", exp.Distinct() if node.args.get("distinct") else None)
        self._order(node, select, grouped, items)
        self._limit(node, select)
        return _Built(select, [n for n, _ in items], [t[1] for _, t in items])

    def _source(self, node: exp.Expr, scope: Scope) -> exp.Expr:
        alias = node.args.get("alias")
        name = alias.name.upper() if alias is not None else None
        if isinstance(node, exp.Subquery):
            if name is None:
                raise Db2SqlError("a table expression needs a correlation name", -20142, "42601")
            built = self.query(node.this, scope.outer)
            scope.sources[name] = dict(zip(built.names, built.kinds, strict=True))
            return exp.Subquery(this=built.select, alias=exp.TableAlias(this=ident(name)))
        if not isinstance(node, exp.Table):
            raise UnsupportedSql(f"{node.key.upper()} in FROM")
        schema = node.db.upper() or None
        if (schema, node.name.upper()) == _DUMMY:
            scope.sources[name or "SYSDUMMY1"] = {"IBMREQD": SqlType(Db2Type.CHAR, 1)}
            dummy = exp.select(exp.Alias(this=literal("Y"), alias=ident("IBMREQD")))
            return exp.Subquery(this=dummy, alias=exp.TableAlias(this=ident(name or "SYSDUMMY1")))
        table = self.lookup(schema, node.name.upper())
        qualifier = name or table.name
        if qualifier in scope.sources:
            raise Db2SqlError(f"{qualifier} is named twice in FROM", -203, "42702")
        scope.sources[qualifier] = {c.name: types.of_column(c) for c in table.columns}
        return _table(table, name)

    def _join(self, join: exp.Expr, scope: Scope) -> exp.Expr:
        if join.args.get("using"):
            raise UnsupportedSql("JOIN ... USING")
        source = self._source(join.this, scope)
        on = join.args.get("on")
        condition = self.x.predicate(on, scope) if on is not None else None
        return exp.Join(
            this=source, on=condition, side=join.args.get("side"), kind=join.args.get("kind")
        )

    def _items(self, node: exp.Select, scope: Scope) -> list[tuple[str, Typed]]:
        items: list[tuple[str, Typed]] = []
        for item in node.expressions:
            star: exp.Expr | None = item if isinstance(item, exp.Star) else None
            if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                star = item
            if star is not None:
                items += self._star(star, scope)
                continue
            value = item.this if isinstance(item, exp.Alias) else item
            typed = self.x.value(value, scope)
            items.append((_output_name(item, len(items) + 1), typed))
        return items

    def _star(self, star: exp.Expr, scope: Scope) -> list[tuple[str, Typed]]:
        qualifier = star.table.upper() if isinstance(star, exp.Column) and star.table else None
        if qualifier is not None and qualifier not in scope.sources:
            raise Db2SqlError(f"{qualifier}.* names no table of the FROM clause", -206, "42703")
        found = []
        for name, columns in scope.sources.items():
            if qualifier in (None, name):
                for column in columns:
                    ref = exp.Column(this=ident(column), table=ident(name))
                    found.append((column, self.x.value(ref, scope)))
        return found

    def _group(self, node: exp.Select, select: exp.Select, scope: Scope, grouped: Scope) -> None:
        group = node.args.get("group")
        if group is not None:
            keys = [self.x.output(self.x.value(e, scope)) for e in group.expressions]
            select.set("group", exp.Group(expressions=keys))
        having = node.args.get("having")
        if having is not None:
            select.set("having", exp.Having(this=self.x.predicate(having.this, grouped)))

    def _order(
        self, node: exp.Expr, select: exp.Query, scope: Scope, items: list[tuple[str, Typed]]
    ) -> None:
        order = node.args.get("order")
        if order is None:
            return
        keys = []
        for ordered in order.expressions:
            typed = self._order_item(ordered.this, scope, items)
            desc = bool(ordered.args.get("desc"))
            keys.append(exp.Ordered(this=self.x.sort_key(typed), desc=desc, nulls_first=desc))
        select.set("order", exp.Order(expressions=keys))

    def _order_item(self, node: exp.Expr, scope: Scope, items: list[tuple[str, Typed]]) -> Typed:
        if isinstance(node, exp.Literal) and not node.is_string:
            position = int(node.this)
            if not 1 <= position <= len(items):
                raise Db2SqlError(f"ORDER BY {position} names no column", -125, "42805")
            return items[position - 1][1]
        if isinstance(node, exp.Column) and not node.table:
            named = [t for n, t in items if n == node.name.upper()]
            if len(named) == 1:
                return named[0]
        return self.x.value(node, scope)

    def _limit(self, node: exp.Expr, select: exp.Query) -> None:
        limit = node.args.get("limit")
        if limit is not None:
            count = limit.args.get("count") if isinstance(limit, exp.Fetch) else limit.expression
            rows = _whole(count, "FETCH FIRST") if count is not None else 1
            select.set("limit", exp.Limit(expression=literal(rows)))
        offset = node.args.get("offset")
        if offset is not None:
            select.set(
                "offset", exp.Offset(expression=literal(_whole(offset.expression, "OFFSET")))
            )

    # --- UNION, EXCEPT, INTERSECT ----------------------------------------------------------

    def _compound(self, node: exp.Expr, outer: Scope | None) -> _Built:
        left, right = self.query(node.this, outer), self.query(node.expression, outer)
        if len(left.kinds) != len(right.kinds):
            raise Db2SqlError(
                f"the queries of a {node.key.upper()} answer different numbers of columns",
                -421,
                "42826",
            )
        pairs = enumerate(zip(left.kinds, right.kinds, strict=True), 1)
        kinds = [types.common([a, b], f"column {i} of a {node.key.upper()}") for i, (a, b) in pairs]
        sides = [self._conform(side, kinds, left.names) for side in (left, right)]
        select: exp.Query = type(node)(  # type: ignore[assignment]
            this=sides[0], expression=sides[1], distinct=node.args.get("distinct")
        )
        order = node.args.get("order")
        if order is not None:
            for ordered in order.expressions:
                if isinstance(ordered.this, exp.Literal):
                    position = int(ordered.this.this)
                elif ordered.this.name.upper() in left.names:
                    position = left.names.index(ordered.this.name.upper()) + 1
                else:
                    raise Db2SqlError("ORDER BY of a UNION names its columns", -208, "42707")
                if kinds[position - 1].is_decimal:
                    raise UnsupportedSql(f"ORDER BY a DECIMAL column of a {node.key.upper()}")
            keys = [
                exp.Ordered(
                    this=o.this, desc=bool(o.args.get("desc")), nulls_first=bool(o.args.get("desc"))
                )
                for o in order.expressions
            ]
            select.set("order", exp.Order(expressions=keys))
        self._limit(node, select)
        return _Built(select, left.names, kinds)

    def _conform(self, side: _Built, kinds: list[SqlType], names: list[str]) -> exp.Query:
        if side.kinds == kinds and side.names == names:
            return side.select
        inner = exp.Subquery(this=side.select, alias=exp.TableAlias(this=ident("Q")))
        columns = []
        for name, kind, target, position in zip(
            names, side.kinds, kinds, range(len(kinds)), strict=True
        ):
            ref = exp.Column(this=ident(side.names[position]), table=ident("Q"))
            value = self.x.cast((ref, kind), target) if kind != target else ref
            if target.kind is Db2Type.CHAR:
                value = exp.Anonymous(
                    this="db2_pad", expressions=[value, literal(target.length or 1)]
                )
            columns.append(exp.Alias(this=self.x.output((value, target)), alias=ident(name)))
        return exp.select(*columns).from_(inner)

    # --- INSERT, UPDATE, DELETE ------------------------------------------------------------

    def _target(self, node: exp.Expr) -> tuple[Table, str | None]:
        if not isinstance(node, exp.Table):
            raise UnsupportedSql(f"{node.key.upper()} as the target of a change")
        alias = node.args.get("alias")
        return self.lookup(node.db.upper() or None, node.name.upper()), (
            alias.name.upper() if alias is not None else None
        )

    def _insert(self, node: exp.Insert) -> exp.Expr:
        target = node.this
        named = list(target.expressions) if isinstance(target, exp.Schema) else []
        table, _ = self._target(target.this if isinstance(target, exp.Schema) else target)
        columns = [_column(table, i.name) for i in named] if named else list(table.columns)
        source = node.expression
        if isinstance(source, exp.Values):
            rows = [self._row(row, table, columns) for row in source.expressions]
            values: exp.Expr = exp.Values(expressions=rows)
        else:
            built = self.query(source, None)
            if len(built.kinds) != len(columns):
                raise _count_mismatch()
            refs = [
                (exp.Column(this=ident(n), table=ident("Q")), k)
                for n, k in zip(_unique(built), built.kinds, strict=True)
            ]
            values = exp.select(
                *[
                    self.x.cast(r, types.of_column(c), _what(c.name, table))
                    for r, c in zip(refs, columns, strict=True)
                ]
            )
            values = values.from_(
                exp.Subquery(this=_renamed(built), alias=exp.TableAlias(this=ident("Q")))
            )
        into = exp.Schema(this=_table(table, None), expressions=[ident(c.name) for c in columns])
        return exp.Insert(this=into, expression=values)

    def _row(self, row: exp.Expr, table: Table, columns: list[Column]) -> exp.Expr:
        values = row.expressions if isinstance(row, exp.Tuple) else [row]
        if len(values) != len(columns):
            raise _count_mismatch()
        scope = Scope()
        return exp.Tuple(
            expressions=[
                self._assign(v, c, table, scope) for v, c in zip(values, columns, strict=True)
            ]
        )

    def _assign(self, node: exp.Expr, column: Column, table: Table, scope: Scope) -> exp.Expr:
        """The value `node` assigned to `column` by Db2's rules; DEFAULT is its default."""
        what = _what(column.name, table)
        if isinstance(node, exp.Var | exp.Column) and node.sql().upper() == "DEFAULT":
            if column.default is None and not column.nullable:
                raise Db2SqlError(f"{what} has no default", -407, "23502")
            node = self.parse_default(column.default) if column.default else exp.Null()
        return self.x.cast(self.x.value(node, scope), types.of_column(column), what)

    def _update(self, node: exp.Update) -> exp.Expr:
        table, alias = self._target(node.this)
        scope = Scope({alias or table.name: {c.name: types.of_column(c) for c in table.columns}})
        sets = []
        for assignment in node.expressions:
            if not isinstance(assignment, exp.EQ) or not isinstance(assignment.this, exp.Column):
                raise UnsupportedSql("this form of SET")
            column = _column(table, assignment.this.name)
            assigned = self._assign(assignment.expression, column, table, scope)
            sets.append(exp.EQ(this=exp.Column(this=ident(column.name)), expression=assigned))
        where = node.args.get("where")
        condition = (
            exp.Where(this=self.x.predicate(where.this, scope)) if where is not None else None
        )
        return exp.Update(
            this=_table(table, alias or table.name), expressions=sets, where=condition
        )

    def _delete(self, node: exp.Delete) -> exp.Expr:
        table, alias = self._target(node.this)
        scope = Scope({alias or table.name: {c.name: types.of_column(c) for c in table.columns}})
        where = node.args.get("where")
        condition = (
            exp.Where(this=self.x.predicate(where.this, scope)) if where is not None else None
        )
        return exp.Delete(this=_table(table, alias or table.name), where=condition)


def _table(table: Table, alias: str | None) -> exp.Table:
    node = exp.Table(this=ident(table.name), db=ident(table.schema))
    if alias is not None:
        node.set("alias", exp.TableAlias(this=ident(alias)))
    return node


def _column(table: Table, name: str) -> Column:
    try:
        return table.column(name)
    except CatalogError as exc:
        raise Db2SqlError(
            f"{name} is not a column of {table.qualified_name}", -206, "42703"
        ) from exc


def _what(column: str, table: Table) -> str:
    return f"column {column} of {table.qualified_name}"


def _output_name(item: exp.Expr, position: int) -> str:
    if isinstance(item, exp.Alias):
        return item.alias if item.args["alias"].quoted else item.alias.upper()
    if isinstance(item, exp.Column):
        return item.name if item.this.quoted else item.name.upper()
    return str(position)


def _unique(built: _Built) -> list[str]:
    return [f"C{i}" for i in range(1, len(built.names) + 1)]


def _renamed(built: _Built) -> exp.Query:
    """The query with its columns named C1, C2, ... (its own names may repeat)."""
    select = built.select.copy()
    first = select
    while not isinstance(first, exp.Select):
        first = first.this
    for item, name in zip(first.expressions, _unique(built), strict=True):
        item.set("alias", ident(name))
    return select


def _whole(node: exp.Expr, clause: str) -> int:
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
        return int(node.this)
    raise Db2SqlError(f"{clause} needs a whole number", -104, "42601")


def _count_mismatch() -> Db2SqlError:
    return Db2SqlError("the number of values is not the number of columns", -117, "42802")
