"""Jinja expressions compiled to Python functions, with the values and errors Jinja's generated code gives.

Each expression becomes one generated Python function (source built here, `exec`uted once at compile time)
that needs no Jinja `Context` and no render generator. It computes exactly what the code Jinja generates for the same (sandboxed) expression computes,
including Jinja's undefined objects (`JsUndefined` for lookups, the plain `Undefined` of an `a if c` without
`else`), so the caller finishes the value the way `BoundedTemplate.render_native` / `render_text` do.
What is replicated, node by node (jinja2 3.1 `compiler.CodeGenerator`):

* constant folding: the expression first goes through Jinja's own `Optimizer` (the code generator folds
  the same subtrees: `10 | random_digits` is computed once, when the template is compiled, in both);
* names: the render variables, then the environment's globals, else `undefined(name=...)`;
* `a.b` -> `environment.getattr`, `a[k]` -> `environment.getitem` (a plain dict holding the key answers
  directly, as `TemplateEnvironment.getattr` does), `a[i:j]` -> Python slicing (Jinja bypasses the sandbox too);
* dict/list/tuple literals, `x if c else y`, `and`/`or`/`not`, unary `-`/`+`, comparisons (Python chains);
* `+ * ** %` through `environment.call_binop` (the sandbox's size checks; `+ * %` of two plain ints or floats,
  which it does not check, inline), `- / //` as Python operators;
* filters and tests called directly with the environment / eval context / context they ask for;
* calls through `environment.call` (budget, sandbox checks, `pass_context` callables, StopIteration).

Any other node (or a filter or call with `*args`/`**kwargs`) is rendered by Jinja itself, as a native
sub-template of that subtree over the same variables: any expression compiles, the rare parts run in Jinja.
"""

from __future__ import annotations

import copy
import datetime as dt
import operator
from collections.abc import Callable
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.optimizer import Optimizer
from jinja2.runtime import Undefined, missing
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

from engine.jsvalues import UNDEFINED
from engine.templates import filters as _filters
from engine.templates.environment import MAX_OUTPUT, MAX_POWER_BITS, TemplateEnvironment, _check_size, _spend

Closure = Callable[[dict[str, Any]], Any]

_STOP_UNDEFINED = "value was undefined because a callable raised a StopIteration exception"


class _CallContext:
    """Stands in for the `Context` that `environment.call` hands the call to (jinja2 `Context.call`);
    a real `Context` is made only for callables that ask for one."""

    __slots__ = ("compiler", "variables")

    def __init__(self, compiler: ExprCompiler, variables: dict[str, Any]):
        self.compiler = compiler
        self.variables = variables

    def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if hasattr(__obj, "__call__") and _PassArg.from_obj(__obj.__call__) is not None:  # noqa: B004
            __obj = __obj.__call__
        pass_arg = _PassArg.from_obj(__obj)
        if pass_arg is _PassArg.context:
            args = (__self.compiler.jinja_context(__self.variables), *args)
        elif pass_arg is _PassArg.eval_context:
            args = (__self.compiler.jinja_context(__self.variables).eval_ctx, *args)
        elif pass_arg is _PassArg.environment:
            args = (__self.compiler.env, *args)
        kwargs.pop("_block_vars", None)
        kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.compiler.env.undefined(_STOP_UNDEFINED)


_INT_TEXT = 10**21  # ints below this print as `str(int)` in JS too (`number_to_string`)
_DATETIME_FIELDS = frozenset(["year", "month", "day", "hour", "minute", "second", "microsecond", "tzinfo", "fold"])


class ExprCompiler:
    """Compiles expressions of one environment; `compile(expr)` folds constants as Jinja does, then generates."""

    def __init__(self, env: TemplateEnvironment):
        self.env = env
        self.globals = dict(env.globals)
        self.eval_ctx = nodes.EvalContext(env, None)
        self.fallbacks = 0  # subtrees rendered by Jinja (for tests)
        self._stock_getattr = (
            type(env).getattr is TemplateEnvironment.getattr
            and type(env).is_safe_attribute is ImmutableSandboxedEnvironment.is_safe_attribute
        )

    def fold(self, expr: nodes.Expr) -> nodes.Expr:
        return Optimizer(self.env).visit(expr, self.eval_ctx)  # type: ignore[no-any-return]

    def compile(self, expr: nodes.Expr, native: bool = False, json_body: bool = False) -> Closure:
        """`native`: the value is finished by `normalize` (a Jinja undefined anywhere in it becomes UNDEFINED),
        so lookups whose value goes straight into it may give UNDEFINED themselves (see `_output_nodes`).
        `json_body`: the value is only sent as JSON, so object literals in those places (not spread by merge,
        whose later keys override earlier ones in place) leave out their UNDEFINED keys, as `strip_undefined`
        would."""
        return _Generator(self).function(self.fold(expr), native, json_body)

    def jinja_context(self, variables: dict[str, Any]) -> jinja2.runtime.Context:
        """The Context `BoundedTemplate._context` makes for these variables (for `pass_context` callables)."""
        env = self.env
        return env.context_class(env, {**self.globals, **variables}, None, {}, globals=self.globals)

    def fallback(self, node: nodes.Node) -> Closure:
        """The subtree rendered by Jinja as `{% set result = subtree %}` over the same variables (raw value)."""
        env = self.env
        lineno = getattr(node, "lineno", None) or 1
        ast = nodes.Template([nodes.Assign(nodes.Name("result", "store", lineno=lineno), node, lineno=lineno)], lineno=1)
        ast.set_environment(env)
        template = env.from_string(ast)
        make_context = template._context  # type: ignore[attr-defined]
        root = template.root_render_func
        self.fallbacks += 1

        def jinja_subtree(ctx: dict[str, Any]) -> Any:
            jctx = make_context(ctx)
            for _ in root(jctx):
                pass
            return jctx.vars["result"]

        return jinja_subtree

    def environment_call(self, name: str) -> Callable[..., Any] | None:
        """`environment.call(context, environment.<name>, ...)` for the engine's own helper methods (safe_concat,
        url_component): what `TemplateEnvironment.call` does for them, without a context; None when not stock."""
        env = self.env
        method = getattr(env, name, None)
        if (
            type(env).call is not TemplateEnvironment.call
            or type(env).is_safe_callable is not ImmutableSandboxedEnvironment.is_safe_callable
            or method is None
            or getattr(type(env), name, None) is not getattr(TemplateEnvironment, name, None)
            or name not in ("safe_concat", "url_component")
            or not env.is_safe_callable(method)
        ):
            return None
        undefined = env.undefined

        def call_method(*args: Any) -> Any:
            _spend(1)
            try:
                return method(*args)
            except StopIteration:
                return undefined(_STOP_UNDEFINED)

        if name != "safe_concat":
            return call_method

        def concat(*args: Any) -> Any:
            # `a ~ b`: strings and JS-safe ints are their own text (`to_text` gives the same); anything else, or
            # a call not of one list, goes through the method as above
            if len(args) == 1 and type(args[0]) is list:
                parts = []
                for value in args[0]:
                    kind = type(value)
                    if kind is str:
                        parts.append(value)
                    elif kind is int and -_INT_TEXT < value < _INT_TEXT:
                        parts.append(str(value))
                    else:
                        return call_method(*args)
                _spend(1)
                text = "".join(parts)
                _check_size(len(text), "a string")
                return text
            return call_method(*args)

        return concat

    def helpers(self) -> dict[str, Any]:
        env = self.env
        undefined = env.undefined
        env_getattr = env.getattr
        env_getitem = env.getitem
        stock = self._stock_getattr
        datetime_type = dt.datetime

        def getattr_(obj: Any, key: str) -> Any:
            # TemplateEnvironment.getattr, with its outcome for plain dicts and datetimes answered here
            if type(obj) is dict:
                if key in obj:
                    value = obj[key]
                    return undefined(obj=obj, name=key) if value is UNDEFINED else value
                if stock and not hasattr(dict, key):
                    return undefined(obj=obj, name=key)
            elif stock and type(obj) is datetime_type and key in _DATETIME_FIELDS:
                return getattr(obj, key)
            return env_getattr(obj, key)

        def getitem_(obj: Any, key: Any) -> Any:
            if type(obj) is dict and type(key) is str and key in obj:
                value = obj[key]
                return undefined(obj=obj, name=key) if value is UNDEFINED else value
            return env_getitem(obj, key)

        jinja_undefined = Undefined

        def out(value: Any) -> Any:  # what `normalize` makes of a value that is not a container
            return UNDEFINED if isinstance(value, jinja_undefined) else value

        def drop_undefined(obj: dict[Any, Any]) -> dict[Any, Any]:  # strip_undefined's work on one literal
            for value in obj.values():
                if value is UNDEFINED:
                    return {k: v for k, v in obj.items() if v is not UNDEFINED}
            return obj

        def drop_keys(obj: dict[Any, Any], *keys: Any) -> dict[Any, Any]:  # drop_undefined, for the keys given
            for key in keys:
                if obj.get(key) is UNDEFINED:
                    del obj[key]
            return obj

        def getattr_out(obj: Any, key: str) -> Any:
            value = getattr_(obj, key)
            return UNDEFINED if isinstance(value, jinja_undefined) else value

        def getitem_out(obj: Any, key: Any) -> Any:
            value = getitem_(obj, key)
            return UNDEFINED if isinstance(value, jinja_undefined) else value

        compiler = self

        def call_context(ctx: dict[str, Any]) -> _CallContext:
            return _CallContext(compiler, ctx)

        return {
            "_getattr": getattr_,
            "_getitem": getitem_,
            "_getattr_out": getattr_out,
            "_getitem_out": getitem_out,
            "_out": out,
            "_drop_undefined": drop_undefined,
            "_drop_keys": drop_keys,
            "_undefined": undefined,
            "_Undefined": Undefined,
            "_call": env.call,
            "_call_context": call_context,
            "_call_binop": env.call_binop,
            "_jinja_context": self.jinja_context,
            "_copy": copy.deepcopy,
            "_env": env,
            "_eval_ctx": self.eval_ctx,
            "_UNDEF": UNDEFINED,
            "_MISS": missing,
            "_dict": dict,
            "_number": frozenset([int, float]),
            "_int": int,
            "_datetime": dt.datetime,
            "_str": str,
            "_check_size": _check_size,
            "_spend": _spend,
        }


class _Generator:
    """Python source of one expression; values that are not literals live in the namespace under made-up names."""

    def __init__(self, compiler: ExprCompiler):
        self.compiler = compiler
        self.env = compiler.env
        self.ns: dict[str, Any] = compiler.helpers()
        self.names: dict[str, str] = {}  # template name -> local variable
        self.counter = 0
        self.shared: dict[str, str | None] = {}  # repr of a repeated pure lookup -> its memo local (None: not yet named)
        self.memos: list[str] = []
        self.output: set[int] = set()  # ids of the nodes whose value goes into the result unchanged
        self.json_body = False

    def _bind(self, value: Any, hint: str = "k") -> str:
        self.counter += 1
        name = f"_{hint}{self.counter}"
        self.ns[name] = value
        return name

    def function(self, expr: nodes.Expr, native: bool = False, json_body: bool = False) -> Closure:
        self.json_body = native and json_body
        if native:
            _output_nodes(expr, self.output, self.env.filters.get("merge"), spread=False)
        seen: dict[str, int] = {}
        _count_lookups(expr, seen, self._shareable)
        self.shared = {key: None for key, n in seen.items() if n > 1}
        body = self.expr(expr)
        lines = ["def _render(ctx):"]
        if self.memos:
            lines.append(f"    {' = '.join(self.memos)} = _MISS")
        for name, local in self.names.items():
            found = self.compiler.globals.get(name, missing)
            if found is missing:
                lines.append(f"    {local} = ctx[{name!r}] if {name!r} in ctx else _undefined(name={name!r})")
            else:
                lines.append(f"    {local} = ctx[{name!r}] if {name!r} in ctx else {self._bind(found, 'g')}")
        lines.append(f"    return {body}")
        source = "\n".join(lines)
        code = compile(source, "<template expression>", "exec")
        exec(code, self.ns)  # noqa: S102 - source generated above from the template's AST, no text of it is code
        render = self.ns["_render"]
        render.source = source
        render.clean = native and _Clean(self).value(expr, spread=False)
        return render  # type: ignore[no-any-return]

    def expr(self, node: nodes.Node) -> str:
        method = getattr(self, "_g_" + type(node).__name__, None)
        source = method(node) if method is not None else None
        if source is None:
            return f"{self._bind(self.compiler.fallback(node), 'jinja')}(ctx)"
        return source

    # -- nodes --

    def _g_Const(self, node: nodes.Const) -> str:
        value = node.value
        if value is None or type(value) in (bool, int, str):
            return repr(value)
        if isinstance(value, (dict, list, tuple, set)):  # the generated code writes repr(value): a new object each time
            if _literal(value):  # a Python literal of plain values makes the same new object
                return f"({value!r})"
            return f"_copy({self._bind(value)})"
        return self._bind(value)

    def _temp(self) -> str:
        self.counter += 1
        return f"_t{self.counter}"

    def _memo(self, node: nodes.Node, source: str, charge: bool = False) -> str:
        """A lookup (or a shareable call, see `_shareable`) repeated in the expression is computed once, where it
        is first needed (lazily: one in a branch that does not run is not run), and reused after. `charge`: the
        call spends one budget step; a reuse spends it too (`_spend` gives None), so the budget runs out exactly
        where it did."""
        key = repr(node)
        if key not in self.shared:
            return source
        local = self.shared[key]
        if local is None:
            local = self.shared[key] = f"_c{len(self.memos)}"
            self.memos.append(local)
        reuse = f"(_spend(1) or {local})" if charge else local
        return f"({reuse} if {local} is not _MISS else ({local} := {source}))"

    def _shareable(self, node: nodes.Node) -> bool:
        """Whether evaluating `node` twice in one render gives the same value and the same error (or none), so
        a repeat may reuse the first value: pure lookups (`_pure`), filters of `_SHARED_FILTERS` (deterministic,
        immutable results, no budget) and the engine's `~` (text; one budget step, charged again on reuse) over
        shareable parts."""
        if _pure(node):
            return True
        if isinstance(node, nodes.Filter):
            func = self.env.filters.get(node.name)
            return (node.node is not None and node.dyn_args is None and node.dyn_kwargs is None
                    and func is not None and _SHARED_FILTERS.get(node.name) is func
                    and all(self._shareable(n) for n in (node.node, *node.args, *(k.value for k in node.kwargs))))
        return self._concat_parts(node) is not None

    def _concat_parts(self, node: nodes.Node) -> list[nodes.Node] | None:
        """The parts of `a ~ b ~ ...` (`environment.safe_concat([...])`, stock) when all are shareable."""
        if not (isinstance(node, nodes.Call) and isinstance(node.node, nodes.EnvironmentAttribute)
                and node.node.name == "safe_concat" and len(node.args) == 1 and not node.kwargs
                and node.dyn_args is None and node.dyn_kwargs is None and isinstance(node.args[0], nodes.List)
                and self.compiler.environment_call("safe_concat") is not None):
            return None
        parts = node.args[0].items
        return parts if all(self._shareable(p) for p in parts) else None

    def _g_Name(self, node: nodes.Name) -> str | None:
        if node.ctx != "load":
            return None
        local = self.names.get(node.name)
        if local is None:
            local = self.names[node.name] = f"_v{len(self.names)}"
        return local

    def _dict_lookup(self, obj: str, key: str, general: str, plain_key: bool = False, field: str | None = None) -> str:
        """`obj[key]` inline when obj is a plain dict holding key (and not UNDEFINED), else `general(obj, key)`:
        the helper's first branch without the call; every other case still goes through the helper. With
        `plain_key` (see `_plain_key`), a plain dict without the key (or holding UNDEFINED) makes the undefined the
        helper would make, without the call. With `field` (see `_g_Getattr`), a datetime answers it directly."""
        found = self._temp()
        if obj.isidentifier():
            target = held = obj
        else:
            held = self._temp()
            target = f"({held} := {obj})"
        otherwise = f"{general}({held}, {key})"
        if field is not None:
            otherwise = f"({held}.{field} if type({held}) is _datetime else {otherwise})"
        if plain_key:
            otherwise = f"(_undefined(obj={held}, name={key}) if type({held}) is _dict else {otherwise})"
        return (f"({found} if type({target}) is _dict and ({found} := {held}.get({key}, _UNDEF)) is not _UNDEF"
                f" else {otherwise})")

    def _lookup(self, node: nodes.Getattr | nodes.Getitem, obj: str, key: str, general: str,
                plain_key: bool = False, field: str | None = None) -> str:
        out = id(node) in self.output
        if repr(node) in self.shared:  # memoised as Jinja's value, which other uses may need
            source = self._memo(node, self._dict_lookup(obj, key, general, plain_key, field))
            return f"_out({source})" if out else source
        if out and plain_key:
            # a plain dict answers everything for a key that is no dict attribute: its value, or (missing or
            # UNDEFINED) the undefined the helper would make, which this place turns into UNDEFINED anyway
            held = obj if obj.isidentifier() else self._temp()
            target = obj if held == obj else f"({held} := {obj})"
            otherwise = f"{general}_out({held}, {key})"
            if field is not None:  # a datetime's field is never undefined
                otherwise = f"({held}.{field} if type({held}) is _datetime else {otherwise})"
            return f"({held}.get({key}, _UNDEF) if type({target}) is _dict else {otherwise})"
        if out:
            return self._dict_lookup(obj, key, general + "_out", field=field)
        return self._dict_lookup(obj, key, general, plain_key, field)

    def _plain_key(self, key: Any, getitem: bool) -> bool:
        """Whether a plain dict without `key` answers the sandbox's lookup with an undefined (no dict attribute
        of that name, stock lookups)."""
        env = self.env
        stock = self.compiler._stock_getattr and (not getitem or type(env).getitem is TemplateEnvironment.getitem)
        return stock and type(key) is str and not hasattr(dict, key)

    def _g_Getattr(self, node: nodes.Getattr) -> str:
        # `now.hour`: the getattr helper answers a datetime's own fields directly (stock lookups); so does this
        field = node.attr if self.compiler._stock_getattr and node.attr in _DATETIME_FIELDS else None
        return self._lookup(node, self.expr(node.node), repr(node.attr), "_getattr", self._plain_key(node.attr, False),
                            field)

    def _g_Getitem(self, node: nodes.Getitem) -> str:
        obj = self.expr(node.node)
        arg = node.arg
        if isinstance(arg, nodes.Slice):
            parts = ["" if p is None else self.expr(p) for p in (arg.start, arg.stop, arg.step)]
            return f"({obj}[{parts[0]}:{parts[1]}:{parts[2]}])"
        if isinstance(arg, nodes.Const) and type(arg.value) is str:
            return self._lookup(node, obj, repr(arg.value), "_getitem", self._plain_key(arg.value, True))
        general = "_getitem_out" if id(node) in self.output else "_getitem"  # normalize's work at this place
        return f"{general}({obj}, {self.expr(arg)})"

    def _g_Dict(self, node: nodes.Dict) -> str:
        source = "{" + ", ".join(f"{self.expr(p.key)}: {self.expr(p.value)}" for p in node.items) + "}"
        if self.json_body and id(node) in self.output and any(not isinstance(p.value, nodes.Const) for p in node.items):
            if all(isinstance(p.key, nodes.Const) and type(p.key.value) in (str, int) for p in node.items):
                # the literal is new: its keys whose values may be UNDEFINED are checked and deleted in place
                keys = dict.fromkeys(repr(p.key.value) for p in node.items if not isinstance(p.value, nodes.Const))
                return f"_drop_keys({source}, {', '.join(keys)})"
            return f"_drop_undefined({source})"
        return source

    def _g_List(self, node: nodes.List) -> str:
        return "[" + ", ".join(self.expr(i) for i in node.items) + "]"

    def _g_Tuple(self, node: nodes.Tuple) -> str | None:
        if node.ctx != "load":
            return None
        items = [self.expr(i) for i in node.items]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"

    def _g_CondExpr(self, node: nodes.CondExpr) -> str:
        test, then = self.expr(node.test), self.expr(node.expr1)
        if node.expr2 is not None:
            otherwise = self.expr(node.expr2)
        elif id(node) in self.output:  # normalize turns the Undefined below into UNDEFINED
            otherwise = "_UNDEF"
        else:
            hint = f"the inline if-expression on line {node.lineno} evaluated to false and no else section was defined."
            otherwise = f"_Undefined({hint!r})"
        return f"({then} if {test} else {otherwise})"

    def _g_And(self, node: nodes.And) -> str:
        return f"({self.expr(node.left)} and {self.expr(node.right)})"

    def _g_Or(self, node: nodes.Or) -> str:
        return f"({self.expr(node.left)} or {self.expr(node.right)})"

    def _unop(self, node: nodes.UnaryExpr, op: str) -> str | None:
        if op in self.env.intercepted_unops:
            return None
        return f"({op}{self.expr(node.node)})"

    def _g_Not(self, node: nodes.Not) -> str | None:
        return self._unop(node, "not ")

    def _g_Neg(self, node: nodes.Neg) -> str | None:
        return self._unop(node, "-")

    def _g_Pos(self, node: nodes.Pos) -> str | None:
        return self._unop(node, "+")

    def _binop(self, node: nodes.BinExpr) -> str:
        op = node.operator
        left, right = self.expr(node.left), self.expr(node.right)
        if op not in self.env.intercepted_binops:
            return f"({left} {op} {right})"
        general = f"_call_binop(None, {op!r}, {{}}, {{}})"
        if not self._plain_number_binop(op):
            return general.format(left, right)
        # both operands exactly int or float (not bool, no subclass): the sandbox checks nothing for numbers
        # (its size checks are for sequences, its format check for str), so its answer is the operator's own,
        # errors included (ZeroDivisionError, OverflowError); anything else goes through the sandbox. Both operands
        # are evaluated, in order, before either test decides (`&`, not `and`); a number literal needs no test.
        checked: list[str] = []
        operands = []
        for side, source in ((node.left, left), (node.right, right)):
            if isinstance(side, nodes.Const) and type(side.value) in (int, float):
                operands.append(source)
            else:
                held = self._temp()
                checked.append(f"(type({held} := {source}) in _number)")
                operands.append(held)
        if not checked:  # Jinja folded a binop of literals unless it raised: keep that error for run time
            return general.format(left, right)
        if op == "*":  # the sandbox refuses a product of ints above 2**MAX_POWER_BITS: such a product goes to it
            sizes = [f"{int(side.value).bit_length()}" if isinstance(side, nodes.Const) and type(side.value) is int
                     else "0" if isinstance(side, nodes.Const)
                     else f"(0 if type({held}) is float else {held}.bit_length())"
                     for side, held in zip((node.left, node.right), operands, strict=True)]
            bits = f" and ({' + '.join(sizes)} <= {MAX_POWER_BITS})"  # after the type tests: both are numbers
        else:
            bits = ""
        return (f"({operands[0]} {op} {operands[1]} if ({' & '.join(checked)}){bits} else "
                f"{general.format(*operands)})")

    def _plain_number_binop(self, op: str) -> bool:
        """Whether `_call_binop(None, op, a, b)` is `a op b` for int and float operands: the stock environment's
        `call_binop` over its stock operator table, for `+ * %` (`**` has a size check for ints)."""
        env = self.env
        stock = {"+": operator.add, "*": operator.mul, "%": operator.mod}
        return (op in stock and type(env).call_binop is TemplateEnvironment.call_binop
                and env.binop_table.get(op) is stock[op])

    _g_Add = _g_Sub = _g_Mul = _g_Div = _g_FloorDiv = _g_Pow = _g_Mod = _binop

    def _g_Compare(self, node: nodes.Compare) -> str | None:
        if any(op.op not in _OPERATORS for op in node.ops):
            return None
        return "(" + self.expr(node.expr) + "".join(f" {_OPERATORS[op.op]} {self.expr(op.expr)}" for op in node.ops) + ")"

    def _arguments(self, node: nodes.Filter | nodes.Test | nodes.Call) -> list[str] | None:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            return None
        args = [self.expr(a) for a in node.args]
        if node.kwargs:
            args.append("**{" + ", ".join(f"{k.key!r}: {self.expr(k.value)}" for k in node.kwargs) + "}")
        return args

    def _filter_or_test(self, node: nodes.Filter | nodes.Test, table: dict[str, Any]) -> str | None:
        func = table.get(node.name)
        if func is None or node.node is None or node.dyn_args is not None or node.dyn_kwargs is not None:
            return None
        direct = _CONTEXT_FREE.get(func)  # type: ignore[call-overload]
        if direct is not None:  # takes the context only to stay unfolded; the function itself, without one
            func = direct
        pass_arg = _PassArg.from_obj(func)
        lead = {
            _PassArg.context: ["_jinja_context(ctx)"],
            _PassArg.eval_context: ["_eval_ctx"],
            _PassArg.environment: ["_env"],
        }.get(pass_arg, [])  # type: ignore[arg-type]
        target = self.expr(node.node)
        args = self._arguments(node)
        assert args is not None
        return f"{self._bind(func, 'f')}(" + ", ".join([*lead, target, *args]) + ")"

    def _g_Filter(self, node: nodes.Filter) -> str | None:
        if (node.name == "merge" and node.node is not None and not node.kwargs and node.dyn_args is None
                and node.dyn_kwargs is None and self.env.filters.get("merge") is _filters.merge):
            return self._merge([node.node, *node.args])
        source = self._int_filter(node) or self._filter_or_test(node, self.env.filters)
        return None if source is None else self._memo(node, source)

    def _int_filter(self, node: nodes.Filter) -> str | None:
        """`x | int` (arguments all literals): an int is its own answer (`int(x)` of an exact int is x, whatever the
        default and base), anything else goes to the filter."""
        if (node.name != "int" or node.node is None or self.env.filters.get("int") is not jinja2.filters.do_int
                or node.dyn_args is not None or node.dyn_kwargs is not None
                or not all(isinstance(a, nodes.Const) for a in (*node.args, *(k.value for k in node.kwargs)))):
            return None
        held = self._temp()
        args = self._arguments(node)
        assert args is not None
        call = f"{self._bind(jinja2.filters.do_int, 'f')}(" + ", ".join([held, *args]) + ")"
        return f"({held} if type({held} := {self.expr(node.node)}) is _int else {call})"

    def _merge(self, args: list[nodes.Node]) -> str:
        """`a | merge(b, ...)`: every argument evaluated in order (`&` does not stop early) into a local; when all
        are plain dicts, one dict display of them (`{**a, **b}` keeps the first position of a key and the last
        value, as `merge`'s updates do), else the filter itself on the same values."""
        held = [self._temp() for _ in args]
        tests = " & ".join(f"(type({h} := {self.expr(a)}) is _dict)" for h, a in zip(held, args, strict=True))
        merge = self._bind(_filters.merge, "f")
        return (f"({{{', '.join('**' + h for h in held)}}} if {tests} else {merge}({', '.join(held)}))")

    def _g_Test(self, node: nodes.Test) -> str | None:
        return self._filter_or_test(node, self.env.tests)

    def _concat(self, items: list[nodes.Node], concat: str) -> str | None:
        """`a ~ b ~ ...` inline: every part evaluated in order; when each is a str or an int JS prints as Python
        does (what `concat`'s own short way admits; such a literal needs no test), one budget step and an
        f-string of them (`str(v)` of each), the output size checked as `concat` does; else `concat` itself on
        the same values (which spends the step)."""
        parts: list[str] = []
        checks: list[str] = []
        for item in items:
            if isinstance(item, nodes.Const) and (type(item.value) is str or (
                    type(item.value) is int and -_INT_TEXT < item.value < _INT_TEXT)):
                parts.append(self._bind(item.value))
                continue
            held, kind = self._temp(), self._temp()
            checks.append(f"((({kind} := type({held} := {self.expr(item)})) is _str)"
                          f" or ({kind} is _int and {-_INT_TEXT} < {held} < {_INT_TEXT}))")
            parts.append(held)
        if not checks:
            return None
        text = self._temp()
        built = "f'" + "".join(f"{{{part}}}" for part in parts) + "'"
        sized = f"({text} if len({text} := {built}) <= {MAX_OUTPUT} else _check_size(len({text}), 'a string'))"
        return f"((_spend(1) or {sized}) if {' & '.join(checks)} else {concat}([{', '.join(parts)}]))"

    def _g_Call(self, node: nodes.Call) -> str | None:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            return None
        callee = node.node
        if isinstance(callee, nodes.EnvironmentAttribute):
            if not callee.name.isidentifier():
                return None
            direct = self.compiler.environment_call(callee.name)
            if direct is not None and not node.kwargs:
                source = None
                if callee.name == "safe_concat" and len(node.args) == 1 and isinstance(node.args[0], nodes.List):
                    source = self._concat(node.args[0].items, self._bind(direct, "e"))
                if source is None:
                    source = f"{self._bind(direct, 'e')}(" + ", ".join(self.expr(a) for a in node.args) + ")"
                return self._memo(node, source, charge=True)
            target = f"_env.{callee.name}"
        else:
            target = self.expr(callee)
        args = self._arguments(node)
        assert args is not None
        return "_call(" + ", ".join(["_call_context(ctx)", target, *args]) + ")"


def _literal(value: Any) -> bool:
    """Whether `repr(value)` is a Python literal that builds an equal value (plain dicts, lists, tuples of
    str, int, bool and None)."""
    kind = type(value)
    if value is None or kind in (str, int, bool):
        return True
    if kind is dict:
        return all(type(k) in (str, int) and _literal(v) for k, v in value.items())
    if kind in (list, tuple):
        return all(_literal(v) for v in value)
    return False


def _pure(node: nodes.Node) -> bool:
    """Lookups and `or`/`and` of lookups and constants: no call, no filter, so evaluating it twice gives the
    same value (the sandbox's objects are immutable) and the same error, if any."""
    if isinstance(node, nodes.Name):
        return node.ctx == "load"
    if isinstance(node, nodes.Const):  # `{}` folded: a lookup on an empty literal finds nothing but its methods
        value = node.value
        return value is None or type(value) in (bool, int, str) or (type(value) in (dict, list) and not value)
    if isinstance(node, nodes.Getattr):
        return _pure(node.node)
    if isinstance(node, nodes.Getitem):
        return isinstance(node.arg, nodes.Const) and type(node.arg.value) in (str, int) and _pure(node.node)
    if isinstance(node, (nodes.Or, nodes.And)):
        return _pure(node.left) and _pure(node.right)
    if isinstance(node, (nodes.Dict, nodes.List)):
        return not node.items
    return False


def _output_nodes(node: nodes.Node, found: set[int], merge: Any, spread: bool) -> None:
    """Collects the nodes whose value goes unchanged into a native result: the expression itself, the values of
    its object and array literals, both branches of `x if c else y`, the right of `or` (`a or b` is `b` when `a`
    is falsy, and every undefined is), and the values of object literals spread by the `merge` filter (it copies
    them without looking at them). `normalize` turns a Jinja undefined in any of those places into UNDEFINED;
    the generated code may as well give UNDEFINED there directly (and `normalize` then finds nothing to walk).
    With `spread`, `node` is an argument of merge: only its entries go into the result."""
    if not spread:
        found.add(id(node))
    if isinstance(node, nodes.Dict):
        for pair in node.items:
            _output_nodes(pair.value, found, merge, False)
    elif isinstance(node, (nodes.List, nodes.Tuple)) and not spread:
        for item in node.items:
            _output_nodes(item, found, merge, False)
    elif isinstance(node, nodes.CondExpr):
        _output_nodes(node.expr1, found, merge, spread)
        if node.expr2 is not None:
            _output_nodes(node.expr2, found, merge, spread)
    elif isinstance(node, nodes.Or):
        _output_nodes(node.right, found, merge, spread)
    elif (isinstance(node, nodes.Filter) and node.name == "merge" and merge is _filters.merge and node.node is not None
          and not node.kwargs and node.dyn_args is None and node.dyn_kwargs is None):
        for arg in (node.node, *node.args):
            _output_nodes(arg, found, merge, True)


# filters and tests whose result never holds a Jinja undefined, whatever they are given (engine filters give
# UNDEFINED, never a Jinja undefined; Jinja's `int` gives an int)
_CLEAN_FILTERS = {
    name: _filters.FILTERS[name]
    for name in ("url_host", "urlencode", "b64encode", "b64decode", "tojson", "unix_seconds", "iso8601", "tz_offset",
                 "random_digits", "uuid4", "snake_case", "user_agent")
}
_CLEAN_FILTERS["int"] = jinja2.filters.do_int
_CLEAN_FILTERS.update(join=_filters.SIZED_BUILTINS["join"], lower=jinja2.filters.do_lower, upper=jinja2.filters.do_upper,
                      length=len, string=jinja2.filters.soft_str)  # text or a number
# filters whose result depends only on their arguments (no clock, no randomness) and is immutable (text or a
# number), and that spend no budget: a repeat of one over the same shareable arguments reuses the first result
_SHARED_FILTERS = {name: _filters.FILTERS[name] for name in ("url_host", "urlencode", "b64encode", "snake_case")}
_SHARED_FILTERS["int"] = jinja2.filters.do_int
_SHARED_FILTERS["float"] = jinja2.filters.do_float
# `x | tz_offset` without `at` reads the clock, so Jinja's repeats of it read the clock again, microseconds
# apart. Shared, every repeat in one render gives the first one's value: the zone's offset at the render's
# moment, which is what a template means by it (a repeat cannot see a different offset across a DST change
# between two uses in one value). With `at` it depends only on its arguments. Its result is an int or UNDEFINED.
_SHARED_FILTERS["tz_offset"] = _filters.FILTERS["tz_offset"]
# engine filters marked pass_context only so that Jinja does not fold them (their value is new each render):
# the function they call, which needs no Jinja Context
_CONTEXT_FREE: dict[Any, Callable[..., Any]] = {
    _filters._random_digits_filter: _filters.random_digits,
    _filters._uuid4_filter: _filters.uuid4,
    _filters._tz_offset_filter: _filters.tz_offset,
}
_PASS_THROUGH_FILTERS = ("omit", "pick", "compact")  # their input itself (undefined or null), or a copy of its entries
_CLEAN_GLOBALS = ("fail", "uuid4", "random_digits")  # raise or give a string


class _Clean:
    """Whether the generated value of a native expression can hold no Jinja undefined anywhere (then `normalize`,
    which would look for one, has nothing to do). The values of the render variables are data (JSON values,
    UNDEFINED, datetimes), never Jinja undefined objects; a lookup can give one only as its own value, which the
    generated code turns into UNDEFINED where the lookup is an output node (see `_output_nodes`). Anything not
    proven clean here (Jinja subtrees, other filters and calls) counts as unclean."""

    def __init__(self, generator: _Generator):
        self.output = generator.output
        self.env = generator.env
        self.globals = generator.compiler.globals
        self.truthy: list[str] = []  # reprs of the pure lookups the enclosing `x if test` branches tested truthy

    def value(self, node: nodes.Node, spread: bool) -> bool:  # noqa: PLR0911 - one answer per node kind
        """`spread`: the node is an argument of merge, which skips undefined and null and copies entries."""
        if isinstance(node, nodes.Const):
            value = node.value
            return value is None or type(value) in (bool, int, float, str) or _literal(value)
        if isinstance(node, nodes.Getattr) or (
                isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and type(node.arg.value) is str):
            # generated by `_lookup`: UNDEFINED for undefined in output; a lookup tested truthy is data (when
            # what it looks into holds data: `{'a': [x if y]}.a` is a list holding a Jinja undefined)
            return self._data(node.node) and (spread or id(node) in self.output or repr(node) in self.truthy)
        if isinstance(node, nodes.Getitem):  # `_getitem(_out)` (output converted) or a slice of the value
            return (not isinstance(node.arg, nodes.Slice) and self._data(node.node)
                    and (spread or id(node) in self.output))
        if isinstance(node, nodes.Name):
            return spread or repr(node) in self.truthy
        if isinstance(node, nodes.Dict):
            return all(isinstance(p.key, nodes.Const) and self.value(p.value, False) for p in node.items)
        if isinstance(node, (nodes.List, nodes.Tuple)):
            return all(self.value(item, False) for item in node.items)
        if isinstance(node, nodes.CondExpr):
            tested = _pure(node.test) and isinstance(node.test, (nodes.Getattr, nodes.Getitem, nodes.Name))
            if tested:  # `x if a.b else y`: in x, a.b is truthy (no undefined is), so it is data
                self.truthy.append(repr(node.test))
            try:
                if not self.value(node.expr1, spread):
                    return False
            finally:
                if tested:
                    self.truthy.pop()
            if node.expr2 is None:
                return spread or id(node) in self.output
            return self.value(node.expr2, spread)
        if isinstance(node, nodes.Or):  # the left only when truthy: a lookup's truthy value is data
            left = node.left
            lookup = isinstance(left, (nodes.Getattr, nodes.Getitem, nodes.Name)) and not (
                isinstance(left, nodes.Getitem) and isinstance(left.arg, nodes.Slice))
            return (lookup or self.value(left, spread)) and self.value(node.right, spread)
        if isinstance(node, nodes.And):
            return self.value(node.left, spread) and self.value(node.right, spread)
        if isinstance(node, (nodes.Not, nodes.Compare)):  # Python gives a bool
            return True
        if isinstance(node, nodes.Test):
            return node.name in _filters.TESTS and self.env.tests.get(node.name) is _filters.TESTS[node.name]
        if isinstance(node, (nodes.Neg, nodes.Pos)):
            return self.value(node.node, False)
        if isinstance(node, (nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Pow, nodes.Mod)):
            return self.value(node.left, False) and self.value(node.right, False)
        if isinstance(node, nodes.Filter):
            return self._filter(node, spread)
        if isinstance(node, nodes.Call):
            return self._call(node)
        return False

    def _data(self, node: nodes.Node) -> bool:
        """Whether the value of `node` holds no Jinja undefined inside (it may be one itself): render variables
        and lookups into them are data; anything else must be clean."""
        if isinstance(node, nodes.Name):
            return True
        if isinstance(node, (nodes.Getattr, nodes.Getitem)) and not isinstance(node.arg if isinstance(
                node, nodes.Getitem) else None, nodes.Slice):
            return self._data(node.node)
        if isinstance(node, (nodes.Or, nodes.And)):
            return self._data(node.left) and self._data(node.right)
        return self.value(node, False)

    def _filter(self, node: nodes.Filter, spread: bool) -> bool:
        func = self.env.filters.get(node.name)
        if node.node is None or node.dyn_args is not None or node.dyn_kwargs is not None or func is None:
            return False
        if _CLEAN_FILTERS.get(node.name) is func:
            return True
        if node.name in _PASS_THROUGH_FILTERS and func is _filters.FILTERS[node.name]:
            return self.value(node.node, spread)
        if node.name == "merge" and func is _filters.merge and not node.kwargs:  # a new dict of the args' entries
            return all(self.value(arg, True) for arg in (node.node, *node.args))
        return False

    def _call(self, node: nodes.Call) -> bool:
        callee = node.node
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            return False
        if isinstance(callee, nodes.EnvironmentAttribute):  # the engine's safe_concat and url_component give text
            return callee.name in ("safe_concat", "url_component") and getattr(type(self.env), callee.name, None) is (
                getattr(TemplateEnvironment, callee.name, None))
        return (isinstance(callee, nodes.Name) and callee.name in _CLEAN_GLOBALS
                and self.globals.get(callee.name) is _filters.GLOBALS[callee.name])


def _count_lookups(node: nodes.Node, seen: dict[str, int], shareable: Callable[[nodes.Node], bool]) -> None:
    """How often each pure lookup (`a.b`, `(a or {}).b`, `a['k']` over pure parts) and each shareable call
    (filters and `~`, see `_Generator._shareable`) occurs in the tree."""
    if (isinstance(node, (nodes.Getattr, nodes.Getitem)) and _pure(node)) or (
            isinstance(node, (nodes.Filter, nodes.Call)) and shareable(node)):
        key = repr(node)
        seen[key] = seen.get(key, 0) + 1
    for child in node.iter_child_nodes():
        _count_lookups(child, seen, shareable)


_OPERATORS = {"eq": "==", "ne": "!=", "gt": ">", "gteq": ">=", "lt": "<", "lteq": "<=", "in": "in", "notin": "not in"}
