#!/usr/bin/env python3
"""Huawei's official Python SDK (3.1.219) against the simulator, as a user of the SDK would call it.

Every operation the exporter calls that the SDK covers (IAM password token; DCS ListInstances
with its filters and ListNumberOfInstancesInDifferentStatus; DDM ListInstances and
ShowAvalibleDdms) is called through the SDK's own clients, endpoints overridden to the
simulator, AK/SK signed by the SDK's signer. Each answer must deserialize into the SDK's
response model with every JSON field the model knows of the model's type, and the fields the
exporter reads set; documented errors must surface as the SDK's ClientRequestException with
the answer's status, error code and request id. KooPhone has no Python SDK on PyPI.

Usage: check.py --endpoint http://127.0.0.1:PORT --project-id P --ak AK --sk SK
                --domain D --user U --password PW --ddm-instance ID

Prints one line per check (`ok <name>: <detail>` or `FAIL <name>: <detail>`), `note` lines for
what the SDK model does not know, and exits 1 when any check failed, 2 when the SDK is missing.
Standard library and the SDK only.
"""

import argparse
import json
import re
import sys
import traceback
import urllib.request

try:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkdcs.v2 import DcsClient
    from huaweicloudsdkdcs.v2 import model as dcs_model
    from huaweicloudsdkddm.v1 import DdmClient
    from huaweicloudsdkddm.v1 import model as ddm_model
    from huaweicloudsdkiam.v3 import IamClient
    from huaweicloudsdkiam.v3 import model as iam_model
except ImportError as e:  # the Rust test turns this into a skip (or a failure under CI)
    print(f"sdk missing: {e}")
    sys.exit(2)

RESULTS = []


def report(ok, name, detail):
    RESULTS.append(ok)
    print(f"{'ok' if ok else 'FAIL'} {name}: {detail}", flush=True)


def note(name, detail):
    print(f"note {name}: {detail}", flush=True)


def check(name):
    """Runs the decorated function at once as one check: it returns a detail or raises."""

    def run(fn):
        try:
            detail = fn()
            report(True, name, detail or "")
        except AssertionError as e:
            report(False, name, str(e))
        except Exception as e:  # any SDK error is a failed check, shown whole
            report(False, name, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        return fn

    return run


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


def refused(call, status, error_code):
    """`call` raises the SDK's ClientRequestException with `status`, `error_code` and a request id."""
    try:
        call()
    except ClientRequestException as e:
        assert e.status_code == status, f"status {e.status_code}, expected {status} ({e.error_msg})"
        assert e.error_code == error_code, f"error_code {e.error_code!r}, expected {error_code!r}"
        assert e.request_id, f"no request id (X-Request-Id) on the {status}"
        return e
    raise AssertionError(f"answered a success where {status} {error_code} was expected")


def config():
    cfg = HttpConfig.get_default_config()
    # http:// needs no TLS; a test certificate would need this, so it is set as a user would.
    cfg.ignore_ssl_verification = True
    cfg.timeout = (5, 30)
    return cfg


def dcs_client(args, sk=None, project_id=None):
    creds = BasicCredentials(args.ak, sk or args.sk, project_id or args.project_id)
    return (
        DcsClient.new_builder()
        .with_http_config(config())
        .with_credentials(creds)
        .with_endpoints([args.endpoint])
        .build()
    )


def ddm_client(args, project_id=None):
    creds = BasicCredentials(args.ak, args.sk, project_id or args.project_id)
    return (
        DdmClient.new_builder()
        .with_http_config(config())
        .with_credentials(creds)
        .with_endpoints([args.endpoint])
        .build()
    )


def iam_client(args):
    # The token call carries the password; the SDK still wants credentials to build a client.
    return (
        IamClient.new_builder()
        .with_http_config(config())
        .with_credentials(GlobalCredentials(args.ak, args.sk))
        .with_endpoints([args.endpoint])
        .build()
    )


def token_request(args, password):
    m = iam_model
    user = m.PwdPasswordUser(
        domain=m.PwdPasswordUserDomain(name=args.domain), name=args.user, password=password
    )
    auth = m.PwdAuth(
        identity=m.PwdIdentity(methods=["password"], password=m.PwdPassword(user=user)),
        scope=m.AuthScope(project=m.AuthScopeProject(id=args.project_id)),
    )
    return m.KeystoneCreateUserTokenByPasswordRequest(
        body=m.KeystoneCreateUserTokenByPasswordRequestBody(auth=auth)
    )


def run(args):
    iam = iam_client(args)
    dcs = dcs_client(args)
    ddm = ddm_client(args)

    @check("iam KeystoneCreateUserTokenByPassword")
    def _():
        resp = iam.keystone_create_user_token_by_password(token_request(args, args.password))
        assert resp.status_code == 201, f"status {resp.status_code}"
        deserializes(
            "iam KeystoneCreateUserTokenByPassword",
            resp,
            iam_model,
            ["x_subject_token", "token.expires_at", "token.project.id"],
        )
        assert resp.token.project.id == args.project_id, f"scoped to {resp.token.project.id}"
        return f"201, X-Subject-Token of {len(resp.x_subject_token)} bytes, expires_at {resp.token.expires_at}"

    @check("iam KeystoneCreateUserTokenByPassword wrong password")
    def _():
        e = refused(
            lambda: iam.keystone_create_user_token_by_password(token_request(args, "not-the-password")),
            401,
            401,
        )
        return f"ClientRequestException 401, error_code {e.error_code}, request_id {e.request_id}"

    @check("dcs ListNumberOfInstancesInDifferentStatus")
    def _():
        details = []
        for include_failure in (None, "true"):
            req = dcs_model.ListNumberOfInstancesInDifferentStatusRequest(include_failure=include_failure)
            resp = dcs.list_number_of_instances_in_different_status(req)
            assert resp.status_code == 200, f"status {resp.status_code}"
            body = deserializes(
                "dcs ListNumberOfInstancesInDifferentStatus", resp, dcs_model, ["running_count", "redis"]
            )
            counts = {k: v for k, v in body.items() if k.endswith("_count")}
            assert counts, "no <state>_count field"
            details.append(f"include_failure={include_failure}: {sum(counts.values())} instances")
        return "200; " + ", ".join(details)

    @check("dcs ListInstances")
    def _():
        resp = dcs.list_instances(dcs_model.ListInstancesRequest(offset=0, limit=1000))
        assert resp.status_code == 200, f"status {resp.status_code}"
        deserializes(
            "dcs ListInstances",
            resp,
            dcs_model,
            ["instance_num", "instances[].instance_id", "instances[].status", "instances[].engine"],
        )
        assert resp.instance_num == len(resp.instances), (
            f"instance_num {resp.instance_num}, {len(resp.instances)} rows"
        )
        return f"200, {resp.instance_num} instances"

    @check("dcs ListInstances offset/limit")
    def _():
        everything = dcs.list_instances(dcs_model.ListInstancesRequest(offset=0, limit=1000)).instances
        assert len(everything) >= 2, f"{len(everything)} instances, 2 needed"
        seen = []
        offset = 0
        while True:
            page = dcs.list_instances(dcs_model.ListInstancesRequest(offset=offset, limit=1))
            assert page.instance_num == len(everything), f"instance_num {page.instance_num} on a page"
            if not page.instances:
                break
            assert len(page.instances) == 1, f"{len(page.instances)} rows for limit=1"
            seen.extend(i.instance_id for i in page.instances)
            offset += 1
            assert offset <= len(everything) + 1, "pages never end"
        assert seen == [i.instance_id for i in everything], "pages of 1 differ from the whole list"
        return f"{len(seen)} pages of 1, the whole list in order"

    @check("dcs ListInstances tags/ip/name filters")
    def _():
        everything = dcs.list_instances(dcs_model.ListInstancesRequest(limit=1000)).instances
        tagged = [i for i in everything if i.tags]
        assert tagged, "no instance has tags to filter on"
        tag = tagged[0].tags[0]
        want = [i.instance_id for i in everything if any(t.key == tag.key and t.value == tag.value for t in i.tags or [])]
        got = dcs.list_instances(dcs_model.ListInstancesRequest(tags=f"{tag.key}={tag.value}", limit=1000))
        assert [i.instance_id for i in got.instances] == want, (
            f"tags={tag.key}={tag.value}: {[i.instance_id for i in got.instances]}, expected {want}"
        )
        with_ip = [i for i in everything if i.ip]
        assert with_ip, "no instance has an ip"
        ip = with_ip[0].ip.split(",")[0]
        got_ip = dcs.list_instances(dcs_model.ListInstancesRequest(ip=ip, limit=1000))
        assert [i.instance_id for i in got_ip.instances] == [with_ip[0].instance_id], (
            f"ip={ip}: {[i.instance_id for i in got_ip.instances]}"
        )
        named = everything[0].name
        got_name = dcs.list_instances(dcs_model.ListInstancesRequest(name=named, limit=1000))
        assert everything[0].instance_id in [i.instance_id for i in got_name.instances], f"name={named}"
        return f"tags {tag.key}={tag.value}: {len(want)} of {len(everything)}; ip {ip}: 1; name {named}: {len(got_name.instances)}"

    @check("dcs ListInstances include_delete")
    def _():
        plain = dcs.list_instances(dcs_model.ListInstancesRequest(limit=1000))
        resp = dcs.list_instances(dcs_model.ListInstancesRequest(include_delete="true", limit=1000))
        deserializes("dcs ListInstances include_delete", resp, dcs_model, ["instances[].instance_id"])
        plain_ids = {i.instance_id for i in plain.instances}
        all_ids = {i.instance_id for i in resp.instances}
        assert plain_ids <= all_ids, f"include_delete drops {sorted(plain_ids - all_ids)[:3]}"
        for gone in args.deleted_dcs:
            assert gone not in plain_ids, f"deleted {gone} listed without include_delete"
            assert gone in all_ids, f"deleted {gone} not listed with include_delete=true"
        return (
            f"{len(resp.instances)} with include_delete=true, {len(plain.instances)} without; "
            f"the {len(args.deleted_dcs)} deleted only with it"
        )

    @check("dcs ListInstances instance_id/status/name_equal filters")
    def _():
        everything = dcs.list_instances(dcs_model.ListInstancesRequest(limit=1000)).instances
        one = everything[-1]
        got = dcs.list_instances(dcs_model.ListInstancesRequest(instance_id=one.instance_id)).instances
        assert [i.instance_id for i in got] == [one.instance_id], f"instance_id={one.instance_id}: {len(got)} rows"
        want = [i.instance_id for i in everything if i.status == one.status]
        got = dcs.list_instances(dcs_model.ListInstancesRequest(status=one.status, limit=1000)).instances
        assert [i.instance_id for i in got] == want, f"status={one.status}: {len(got)} rows, expected {len(want)}"
        counted = []
        for name in (one.name, one.name[:-1]):
            got = dcs.list_instances(
                dcs_model.ListInstancesRequest(name=name, name_equal="true", limit=1000)
            ).instances
            exact = [i.instance_id for i in everything if i.name == name]
            assert [i.instance_id for i in got] == exact, (
                f"name={name!r} name_equal=true: {len(got)} rows, expected {len(exact)}"
            )
            counted.append(f"{name!r}: {len(exact)}")
        assert one.instance_id in exact or counted[0].endswith(": 0") is False, "the whole name matches nothing"
        return f"instance_id: 1; status {one.status}: {len(want)}; name_equal {', '.join(counted)}"

    @check("dcs ListInstances with the IAM SDK's token (X-Auth-Token)")
    def _():
        resp = iam.keystone_create_user_token_by_password(token_request(args, args.password))
        url = f"{args.endpoint}/v2/{args.project_id}/instances?limit=1"
        req = urllib.request.Request(url, headers={"X-Auth-Token": resp.x_subject_token})
        with urllib.request.urlopen(req, timeout=30) as answer:
            body = json.loads(answer.read())
            status = answer.status
        assert status == 200 and isinstance(body.get("instances"), list), f"{status} {body}"
        return f"200, {len(body['instances'])} row for limit=1"

    @check("dcs ListInstances 400 111400002 (another project)")
    def _():
        other = dcs_client(args, project_id="ffffffffffffffffffffffffffffffff")
        e = refused(lambda: other.list_instances(dcs_model.ListInstancesRequest()), 400, "111400002")
        return f"ClientRequestException 400 {e.error_code} {e.error_msg!r}, request_id {e.request_id}"

    @check("dcs ListNumberOfInstancesInDifferentStatus 400 111400002 (another project)")
    def _():
        other = dcs_client(args, project_id="ffffffffffffffffffffffffffffffff")
        e = refused(
            lambda: other.list_number_of_instances_in_different_status(
                dcs_model.ListNumberOfInstancesInDifferentStatusRequest()
            ),
            400,
            "111400002",
        )
        return f"ClientRequestException 400 {e.error_code}, request_id {e.request_id}"

    @check("signature: wrong secret key refused")
    def _():
        wrong = dcs_client(args, sk=args.sk + "-wrong")
        e = refused(lambda: wrong.list_instances(dcs_model.ListInstancesRequest()), 401, "APIGW.0301")
        return f"ClientRequestException 401 {e.error_code}, request_id {e.request_id}"

    @check("signature: unknown access key refused")
    def _():
        stranger = BasicCredentials("UNKNOWNACCESSKEY0000", args.sk, args.project_id)
        client = (
            DcsClient.new_builder()
            .with_http_config(config())
            .with_credentials(stranger)
            .with_endpoints([args.endpoint])
            .build()
        )
        e = refused(lambda: client.list_instances(dcs_model.ListInstancesRequest()), 401, "APIGW.0301")
        return f"ClientRequestException 401 {e.error_code}, request_id {e.request_id}"

    @check("ddm ListInstances offset/limit")
    def _():
        everything = ddm.list_instances(ddm_model.ListInstancesRequest(offset=0, limit=128))
        assert len(everything.instances) >= 2, f"{len(everything.instances)} instances, 2 needed"
        seen = []
        for offset in range(len(everything.instances) + 1):
            page = ddm.list_instances(ddm_model.ListInstancesRequest(offset=offset, limit=1))
            assert page.total_record == everything.total_record, f"total_record {page.total_record} on a page"
            seen.extend(i.id for i in page.instances or [])
        want = [i.id for i in everything.instances]
        assert seen == want, f"pages of 1: {seen}, the whole list: {want}"
        return f"{len(seen)} pages of 1, the whole list in order"

    @check("ddm ListInstances")
    def _():
        resp = ddm.list_instances(ddm_model.ListInstancesRequest(offset=0, limit=128))
        assert resp.status_code == 200, f"status {resp.status_code}"
        deserializes(
            "ddm ListInstances",
            resp,
            ddm_model,
            ["instances[].id", "instances[].status", "instances[].name", "total_record"],
        )
        ids = [i.id for i in resp.instances]
        assert args.ddm_instance in ids, f"{args.ddm_instance} not listed: {ids}"
        return f"200, {len(ids)} instances, total_record {resp.total_record}"

    @check("ddm ListInstances 400 (limit out of range)")
    def _():
        try:
            ddm.list_instances(ddm_model.ListInstancesRequest(offset=0, limit=100000))
        except ClientRequestException as e:
            assert e.status_code == 400, f"status {e.status_code}"
            assert e.request_id, "no request id"
            # The definition's ExceptionResponses is {errCode, externalMessage}; the SDK's
            # handler knows error_code/errorCode/code only, so it reports the status as the
            # code and keeps the body as the message.
            body = json.loads(e.error_msg) if e.error_code == "400" else {}
            code = body.get("errCode", e.error_code)
            assert code and code != "400", f"no error code: {e.error_code!r} {e.error_msg!r}"
            return f"ClientRequestException 400, errCode {code} (SDK error_code {e.error_code!r}), request_id {e.request_id}"
        raise AssertionError("limit=100000 answered a success")

    @check("ddm ShowAvalibleDdms")
    def _():
        total, seen, offset, available = None, [], 0, 0
        while True:
            req = ddm_model.ShowAvalibleDdmsRequest(instance_id=args.ddm_instance, offset=offset, limit=128)
            resp = ddm.show_avalible_ddms(req)
            assert resp.status_code == 200, f"status {resp.status_code}"
            deserializes(
                "ddm ShowAvalibleDdms",
                resp,
                ddm_model,
                ["total", "instances[].instance_id", "instances[].available", "instances[].status"],
            )
            total = resp.total
            for t in resp.instances or []:
                if not t.available:
                    assert t.unavailable_reason, f"{t.instance_id}: unavailable without a reason"
                else:
                    available += 1
            seen.extend(t.instance_id for t in resp.instances or [])
            offset += len(resp.instances or [])
            if not resp.instances or offset >= total:
                break
        assert len(seen) == total == len(set(seen)), f"{len(seen)} targets, total {total}"
        return f"200, {total} targets in pages of 128, {available} available"

    @check("ddm ShowAvalibleDdms unknown instance")
    def _():
        req = ddm_model.ShowAvalibleDdmsRequest(instance_id="0" * 32 + "in09", offset=0, limit=10)
        e = refused(lambda: ddm.show_avalible_ddms(req), 404, "DBS.280108")
        return f"ClientRequestException 404 {e.error_code}, request_id {e.request_id}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("endpoint", "project-id", "ak", "sk", "domain", "user", "password", "ddm-instance"):
        p.add_argument("--" + flag, required=True)
    p.add_argument("--deleted-dcs", action="append", default=[], help="a DCS instance deleted before")
    args = p.parse_args()
    run(args)
    failed = RESULTS.count(False)
    print(f"{len(RESULTS) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or not RESULTS else 0)


if __name__ == "__main__":
    main()
