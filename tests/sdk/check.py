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
import sys
import traceback
import urllib.request

try:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
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

from models import deserializes  # noqa: E402 (beside this script)

RESULTS = []


def report(ok, name, detail):
    RESULTS.append(ok)
    print(f"{'ok' if ok else 'FAIL'} {name}: {detail}", flush=True)


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


def service_code(e):
    """The service's own error code of an SDK exception. The SDK reads `error_code`,
    `errorCode` or `code` (IAM's `error.code`, an integer equal to the status); DDM's listing
    answers `errCode` (its definition's `ExceptionResponses`), which the SDK does not know: it
    then reports the status as the code and the body as the message, where the code is read."""
    if isinstance(e.error_code, int):
        return e.error_code if e.error_code == e.status_code else None
    if e.error_code != str(e.status_code):
        return e.error_code
    try:
        body = json.loads(e.error_msg)
    except (TypeError, ValueError):
        return None
    return body.get("errCode") if isinstance(body, dict) else None


def config():
    cfg = HttpConfig.get_default_config()
    # http:// needs no TLS; a test certificate would need this, so it is set as a user would.
    cfg.ignore_ssl_verification = True
    cfg.timeout = (5, 30)
    return cfg


def dcs_client(args, sk=None, project_id=None, cfg=None):
    creds = BasicCredentials(args.ak, sk or args.sk, project_id or args.project_id)
    return (
        DcsClient.new_builder()
        .with_http_config(cfg or config())
        .with_credentials(creds)
        .with_endpoints([args.endpoint])
        .build()
    )


def ddm_client(args, project_id=None, cfg=None):
    creds = BasicCredentials(args.ak, args.sk, project_id or args.project_id)
    return (
        DdmClient.new_builder()
        .with_http_config(cfg or config())
        .with_credentials(creds)
        .with_endpoints([args.endpoint])
        .build()
    )


def iam_client(args, cfg=None):
    # The token call carries the password; the SDK still wants credentials to build a client.
    return (
        IamClient.new_builder()
        .with_http_config(cfg or config())
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
    # nocatalog=true: what a monitoring client asks (the catalog is not read).
    return m.KeystoneCreateUserTokenByPasswordRequest(
        nocatalog="true", body=m.KeystoneCreateUserTokenByPasswordRequestBody(auth=auth)
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

    @check("dcs ListInstances instance_id/status/name_equal/include_failure filters")
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
        assert counted[0] != f"{one.name!r}: 0", "the whole name matches nothing"
        failed = dcs.list_instances(dcs_model.ListInstancesRequest(include_failure="true", limit=1000))
        plain = {i.instance_id for i in everything}
        extra = [i for i in failed.instances if i.instance_id not in plain]
        assert plain <= {i.instance_id for i in failed.instances}, "include_failure=true drops instances"
        assert all(i.status == "CREATEFAILED" for i in extra), (
            f"include_failure=true adds {sorted({i.status for i in extra})}, not only CREATEFAILED"
        )
        assert not any(i.status == "CREATEFAILED" for i in everything), "CREATEFAILED listed by default"
        return (
            f"instance_id: 1; status {one.status}: {len(want)}; name_equal {', '.join(counted)}; "
            f"include_failure=true adds {len(extra)} CREATEFAILED"
        )

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
            code = service_code(e)
            assert code, f"no error code: {e.error_code!r} {e.error_msg!r}"
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


def set_fault(args, operation, kind, **extra):
    """One answer of `operation` goes wrong as `kind` says (the simulator's control route)."""
    req = urllib.request.Request(
        f"{args.endpoint}/_sim/faults/{operation}",
        data=json.dumps({"kind": kind, "times": 1, **extra}).encode(),
        method="PUT",
    )
    with urllib.request.urlopen(req, timeout=30) as answer:
        assert answer.status == 200, f"fault {operation}={kind}: {answer.status}"


def calls_of(args, client):
    """The exporter's operations that `client` serves, by the simulator's operation name."""
    if isinstance(client, IamClient):
        return {
            "iam_token": (
                "iam KeystoneCreateUserTokenByPassword",
                lambda: client.keystone_create_user_token_by_password(token_request(args, args.password)),
            )
        }
    if isinstance(client, DcsClient):
        return {
            "dcs_status": (
                "dcs ListNumberOfInstancesInDifferentStatus",
                lambda: client.list_number_of_instances_in_different_status(
                    dcs_model.ListNumberOfInstancesInDifferentStatusRequest()
                ),
            ),
            "dcs_list": ("dcs ListInstances", lambda: client.list_instances(dcs_model.ListInstancesRequest())),
        }
    return {
        "ddm_list": ("ddm ListInstances", lambda: client.list_instances(ddm_model.ListInstancesRequest())),
        "ddm_restorable": (
            "ddm ShowAvalibleDdms",
            lambda: client.show_avalible_ddms(ddm_model.ShowAvalibleDdmsRequest(instance_id=args.ddm_instance)),
        ),
    }


# The operations that are GETs: the SDK's adapter retries their 429s, never a POST's.
GETS = ("dcs_status", "dcs_list", "ddm_list", "ddm_restorable")


def run_faulted(args):
    """Each operation's documented 500 and the gateway's 429, one answer each, through the SDK."""
    calls = {}
    for client in (iam_client(args), dcs_client(args), ddm_client(args)):
        calls.update(calls_of(args, client))
    for operation, (name, call) in calls.items():

        @check(f"{name} 500 (server_error)")
        def _():
            set_fault(args, operation, "server_error")
            try:
                call()
            except ServerResponseException as e:
                assert e.status_code == 500, f"status {e.status_code}"
                assert e.request_id, "no request id"
                code = service_code(e)
                assert code, f"no error code: {e.error_code!r} {e.error_msg!r}"
                return f"ServerResponseException 500, code {code!r} (SDK error_code {e.error_code!r}), request_id {e.request_id}"
            raise AssertionError("answered a success under server_error")

        @check(f"{name} 429 (throttled)")
        def _():
            set_fault(args, operation, "throttled")
            try:
                call()
            except ClientRequestException as e:
                assert e.status_code == 429, f"status {e.status_code}"
                if operation in GETS:
                    # On a GET, the SDK's urllib3 adapter (status_forcelist=[429], retry_times
                    # 0) raises before the SDK reads the answer: it reports "429" and no
                    # request id, whatever the body says.
                    assert e.error_code in ("APIG.0308", "429"), f"error_code {e.error_code!r}"
                    return f"ClientRequestException 429, error_code {e.error_code!r} (the SDK's own)"
                # urllib3 never retries a POST, so the SDK reads the gateway's body.
                assert e.error_code == "APIG.0308", f"error_code {e.error_code!r}"
                assert e.request_id, "no request id"
                return f"ClientRequestException 429 {e.error_code}, request_id {e.request_id}"
            raise AssertionError("answered a success under throttled")

        @check(f"{name} after the faults")
        def _():
            call()
            return "the next answer is a success again"

        if operation not in GETS:
            continue

        @check(f"{name} 429 retried by the SDK")
        def _():
            set_fault(args, operation, "throttled", retry_after_secs=0)
            cfg = config()
            cfg.retry_times = 1
            retrying = {
                "iam": lambda: iam_client(args, cfg),
                "dcs": lambda: dcs_client(args, cfg=cfg),
                "ddm": lambda: ddm_client(args, cfg=cfg),
            }[operation.split("_")[0]]()
            again = calls_of(args, retrying)[operation][1]
            again()
            return "a success after one 429 with Retry-After: 0 (retry_times=1)"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("endpoint", "project-id", "ak", "sk", "domain", "user", "password", "ddm-instance"):
        p.add_argument("--" + flag, required=True)
    p.add_argument(
        "--sim-control",
        action="store_true",
        help="also check each operation's 500 and 429 through the simulator's /_sim/faults route",
    )
    p.add_argument("--deleted-dcs", action="append", default=[], help="a DCS instance deleted before")
    args = p.parse_args()
    run(args)
    if args.sim_control:
        run_faulted(args)
    failed = RESULTS.count(False)
    print(f"{len(RESULTS) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or not RESULTS else 0)


if __name__ == "__main__":
    main()
