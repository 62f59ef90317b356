"""Any torch model with approximate layers: axnn.approximate replaces every nn.Conv2d, nn.Linear
and nn.MultiheadAttention by the axnn.nn modules, routes functional matmul / @ / bmm products of
two activations through AxMatMul (torch.fx, where the module tree does not expose them), and
configures the layers with the CLI's rules; layer names are module paths, as in the CLI.

    model = axnn.approximate(torchvision.models.resnet18(), mult="trunc8s_k4")
    model = axnn.approximate(model, "rules.yaml")        # or [{"match": "fc", "mult": "exact"}, ...]
"""

import copy
import dis
import inspect
import json
import operator
import os
import warnings

import torch

from . import ops
from .nn import AxConv2d, AxLayer, AxLinear, AxMatMul, AxMultiheadAttention


def ax_layers(model):
    """[(path, layer)] of every approximate layer below model."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, AxLayer)]


def rules_json(rules=None, mult=None):
    """The rules (a file path, a {"layers": [...]} dict or a list of rule dicts) or one rule for
    every layer (mult), validated and written out in full by the C++ library, as JSON text."""
    if (rules is None) == (mult is None):
        raise ValueError("give rules or mult, not both and not neither")
    if mult is not None:
        rules = [{"match": "*", "mult": mult}]
    if isinstance(rules, (str, os.PathLike)):
        return ops().layer_rules_file(os.fspath(rules))
    if isinstance(rules, (list, tuple)):
        rules = {"layers": list(rules)}
    return ops().layer_rules(json.dumps(rules), "rules")


def configure(model, rules=None, *, mult=None):
    """Applies the rules to the approximate layers (first matching rule wins, glob on the path
    name and/or type); layers no rule matches keep their config. Returns layers(model)."""
    text = rules_json(rules, mult)
    found = ax_layers(model)
    matched = ops().match_layer_rules(text, [n for n, _ in found],
                                      [m.layer_type for _, m in found])
    parsed = json.loads(text)["layers"]
    for (_, layer), index in zip(found, matched):
        if index >= 0:
            config = dict(parsed[index])
            config.pop("match")
            config.pop("type", None)
            layer.set_config(config)
    return layers(model)


def layers(model):
    """The approximate layers as dicts: name, type, mult, macs_per_sample (from the last
    forward, 0 before one) and relative_power (None when the multiplier does not say)."""
    return [{"name": name, "type": m.layer_type, "mult": m.config["mult"],
             "macs_per_sample": m.macs_per_sample, "relative_power": m.relative_power}
            for name, m in ax_layers(model)]


def summary(model):
    """The layer table as `axnn eval` prints it: name, type, multiplier, MACs per sample (from the
    last forward: calibrating counts) and relative power."""
    rows = [f"  {'layer':<22} {'type':<7} {'multiplier':<26} {'MACs/sample':>12} {'power':>7}"]
    for (_, m), t in zip(ax_layers(model), layers(model)):
        product = t["mult"]
        if m.halut is not None:  # "halut c16 k16 maddness int8 avg2"
            c = m.config
            product = (f"halut c{c['c']} k{c['k']} {c['encoder']} {c['lut']}" +
                       (f" avg{c['average']}" if c["average"] else ""))
        power = "-" if t["relative_power"] is None else f"{t['relative_power']:.3f}"
        rows.append(f"  {t['name']:<22} {t['type']:<7} {product:<26} "
                    f"{t['macs_per_sample']:>12} {power:>7}")
    return "\n".join(rows)


def _replace_modules(module, prefix):
    for name, child in list(module.named_children()):
        path = prefix + name
        if isinstance(child, (AxLayer, AxMultiheadAttention)):
            continue
        if isinstance(child, torch.nn.MultiheadAttention):
            replacement = AxMultiheadAttention(child, path)
        elif isinstance(child, torch.nn.Conv2d):
            replacement = AxConv2d.from_conv2d(child, path)
        elif isinstance(child, torch.nn.Linear):
            replacement = AxLinear.from_linear(child, path)
        else:
            _replace_modules(child, path + ".")
            continue
        replacement.train(child.training)
        setattr(module, name, replacement)


class _ScopedTracer(torch.fx.Tracer):
    """Keeps the approximate modules whole and notes on each node the path of the module whose
    forward made it."""

    def __init__(self):
        super().__init__()
        self.scope = ""

    def is_leaf_module(self, m, qualified_name):
        return isinstance(m, (AxLayer, AxMultiheadAttention)) or super().is_leaf_module(
            m, qualified_name)

    def call_module(self, m, forward, args, kwargs):
        outer, self.scope = self.scope, self.path_of_module(m)
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self.scope = outer

    def create_node(self, *args, **kwargs):
        node = super().create_node(*args, **kwargs)
        node.meta["axnn_scope"] = self.scope
        return node

    def proxy(self, node):
        return _Proxy(node, self)


class _UnpackFix:
    # torch 1.13's Proxy.__iter__ finds `a, b = proxy` by an instruction index that Python 3.11's
    # inline caches shift; this finds the unpacking by its offset instead.
    def __iter__(self):
        caller = inspect.currentframe().f_back
        for inst in dis.get_instructions(caller.f_code):
            if inst.offset == caller.f_lasti and inst.opname == "UNPACK_SEQUENCE":
                return (self[i] for i in range(inst.argval))
        return self.tracer.iter(self)

    def __getattr__(self, k):  # x.shape and the like, so that `n, c, h, w = x.shape` works
        return _Attribute(self, k)


class _Proxy(_UnpackFix, torch.fx.Proxy):
    pass


class _Attribute(_UnpackFix, torch.fx.proxy.Attribute):
    pass


_PRODUCT_FUNCTIONS = (torch.matmul, operator.matmul, torch.bmm)
_PRODUCT_METHODS = ("matmul", "bmm", "__matmul__")


def _is_activation_product(node):
    is_product = ((node.op == "call_function" and node.target in _PRODUCT_FUNCTIONS) or
                  (node.op == "call_method" and node.target in _PRODUCT_METHODS))
    if not is_product or len(node.args) != 2 or node.kwargs:
        return False
    # A product with a parameter or a constant is a weight product, not attention's.
    return all(isinstance(a, torch.fx.Node) and a.op != "get_attr" for a in node.args)


def _product_names(products):
    """Within one module, two products are attention's qk and av (as in the zoo and the ONNX
    import); any other number are matmul, matmul_1, ..."""
    by_scope = {}
    for node in products:
        by_scope.setdefault(node.meta["axnn_scope"], []).append(node)
    names = {}
    for scope, nodes in by_scope.items():
        leaves = (["qk", "av"] if len(nodes) == 2 else
                  ["matmul" if i == 0 else f"matmul_{i}" for i in range(len(nodes))])
        for node, leaf in zip(nodes, leaves):
            names[node] = f"{scope}.{leaf}" if scope else leaf
    return names


def _route_products(model):
    """The model as a torch.fx GraphModule with its activation products as AxMatMul modules;
    the model itself when it has none, or when torch.fx cannot trace it (with a warning)."""
    try:
        graph = _ScopedTracer().trace(model)
    except Exception as e:  # torch.fx raises many kinds for code it cannot trace
        warnings.warn(f"axnn.approximate: torch.fx cannot trace {type(model).__name__} ({e}); "
                      "its functional matmul / @ / bmm products, if any, stay exact")
        return model
    products = [n for n in graph.nodes if _is_activation_product(n)]
    if not products:
        return model
    for node, path in _product_names(products).items():
        parent_path, _, leaf = path.rpartition(".")
        parent = model.get_submodule(parent_path)
        if hasattr(parent, leaf):
            raise RuntimeError(f"axnn.approximate: '{path}' exists already; cannot name the "
                               f"product {node.format_node()} so")
        parent.add_module(leaf, AxMatMul(path))
        with graph.inserting_after(node):
            routed = graph.call_module(path, node.args)
        node.replace_all_uses_with(routed)
        graph.erase_node(node)
    return torch.fx.GraphModule(model, graph, class_name=type(model).__name__)


def approximate(model, rules=None, *, mult=None, inplace=False, trace=True):
    """The model with approximate layers (a copy unless inplace), configured by `rules` or
    `mult` when given (else every layer "exact", fp32). trace=False skips torch.fx: only the
    module tree is converted. The result is a torch.fx.GraphModule when products were routed."""
    if not inplace:
        model = copy.deepcopy(model)
    if isinstance(model, (AxLayer, AxMultiheadAttention)):
        raise ValueError("axnn.approximate takes a model, not a single approximate layer")
    _replace_modules(model, "")
    if trace:
        model = _route_products(model)
    if rules is not None or mult is not None:
        configure(model, rules, mult=mult)
    return model


def save_config(model, path):
    """Writes every approximate layer's config as a rules file (JSON, or YAML by the extension)
    that `--config` of the CLI and axnn.configure read back."""
    rules = {"layers": [{"match": name, **m.config} for name, m in ax_layers(model)]}
    path = os.fspath(path)
    with open(path, "w") as f:
        if path.lower().endswith((".yaml", ".yml")):
            import yaml  # Debian python3-yaml, only for YAML files
            yaml.safe_dump(rules, f, sort_keys=False)
        else:
            json.dump(rules, f, indent=2)
            f.write("\n")
