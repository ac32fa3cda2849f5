"""How an answer's raw JSON sits in the Huawei Python SDK's response model.

The SDK converts what it can (`int("8")`) and keeps what it cannot, silently, so a wrong type
never fails a call; `deserializes` holds the raw body to the model's `openapi_types` instead,
names each field the model does not know, and checks that the fields a caller reads are set.
Standard library only; `check.py` passes the SDK's model packages in.
"""

import json
import re


def note(name, detail):
    print(f"note {name}: {detail}", flush=True)


PRIMITIVES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "object": (object,),
}


def conforms(value, kind, package, where, problems, unknown, nulls):
    """Holds raw JSON `value` to the SDK's declared type `kind` (an openapi_types string)."""
    if value is None:
        nulls.append(where)
        return
    m = re.fullmatch(r"list\[(.*)\]", kind)
    if m:
        if not isinstance(value, list):
            problems.append(f"{where}: {json.dumps(value)[:60]} is not a list")
            return
        for i, item in enumerate(value):
            conforms(item, m.group(1), package, f"{where}/{i}", problems, unknown, nulls)
        return
    m = re.fullmatch(r"dict\(([^,]*), (.*)\)", kind)
    if m:
        if not isinstance(value, dict):
            problems.append(f"{where}: {json.dumps(value)[:60]} is not an object")
            return
        for k, v in value.items():
            conforms(v, m.group(2), package, f"{where}/{k}", problems, unknown, nulls)
        return
    if kind in PRIMITIVES:
        types = PRIMITIVES[kind]
        # JSON true is not an integer, whatever Python's bool says.
        if isinstance(value, bool) and kind in ("int", "float"):
            types = ()
        if not isinstance(value, types):
            problems.append(f"{where}: {json.dumps(value)[:60]} is not {kind}")
        return
    klass = getattr(package, kind, None)
    if klass is None or not getattr(klass, "openapi_types", None):
        return  # an enum-like model: the SDK keeps any primitive
    if not isinstance(value, dict):
        problems.append(f"{where}: {json.dumps(value)[:60]} is not a {kind} object")
        return
    conforms_model(value, klass, package, where, problems, unknown, nulls)


def conforms_model(body, klass, package, where, problems, unknown, nulls):
    by_json = {json_key: attr for attr, json_key in klass.attribute_map.items()}
    for key, value in body.items():
        attr = by_json.get(key)
        if attr is None:
            unknown.add(f"{klass.__name__}.{key}")
            continue
        conforms(value, klass.openapi_types[attr], package, f"{where}/{key}", problems, unknown, nulls)


def deserializes(name, response, package, used):
    """The response model came from the body; its JSON fields have the model's types; `used`
    (dotted attribute paths, `[]` for every element of a list) are set."""
    body = response.to_json_object()
    assert isinstance(body, dict), f"the body is not a JSON object: {response.raw_content[:80]!r}"
    problems, unknown, nulls = [], set(), []
    conforms_model(body, type(response), package, "", problems, unknown, nulls)
    assert not problems, "wrong types for the SDK model: " + "; ".join(problems[:10])
    for path in used:
        values = [response]
        for part in path.split("."):
            many = part.endswith("[]")
            attr = part[:-2] if many else part
            nxt = []
            for v in values:
                got = getattr(v, attr)
                assert got is not None, f"{type(v).__name__}.{attr} is not set ({path})"
                if many:
                    assert isinstance(got, list), f"{path}: not a list"
                    nxt.extend(got)
                else:
                    nxt.append(got)
            values = nxt
    if unknown:
        note(name, "fields the SDK model does not know: " + ", ".join(sorted(unknown)))
    if nulls:
        note(name, f"{len(nulls)} null field(s), e.g. {', '.join(nulls[:5])}")
    return body
