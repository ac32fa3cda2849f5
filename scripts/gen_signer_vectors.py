#!/usr/bin/env python3
"""Generate SDK-HMAC-SHA256 test vectors with Huawei's official Python SDK signer.

How to run (from the repository root):

    python3 -m venv /tmp/hwsdk-venv
    /tmp/hwsdk-venv/bin/pip install huaweicloudsdkcore==3.1.219
    /tmp/hwsdk-venv/bin/python scripts/gen_signer_vectors.py

It writes tests/fixtures/sdk_signer_vectors.json, which tests/signer.rs replays
against src/transport/auth/signer/. Nothing here touches the network or the clock: the
date is fixed per vector through a preset X-Sdk-Date header, which the SDK
honours instead of datetime.utcnow().

Two kinds of vector:
  * "signer": an SdkRequest built the way huaweicloudsdkcore.client.Client builds
    one (host = URL netloc, resource path with path parameters quoted with
    safe='', query as a list of (key, value) tuples, header dict), signed by
    BasicCredentials(ak, sk, project_id).sign_request, which adds X-Project-Id
    and then runs huaweicloudsdkcore.signer.signer.Signer.
  * "client": the request goes through Client.build_future_request, so the
    headers the real client adds before signing (User-Agent, the default
    Content-Type: application/json) are in the vector as well.

For every vector the script records the inputs (headers as given to the
signer, before it adds Host / X-Sdk-Date / X-Sdk-Content-Sha256 /
Authorization) and what the SDK produced: canonical request, string to sign,
Authorization header, X-Sdk-Date, the final query string it sends, and the
final header set.
"""

import importlib.metadata
import json
import os
import sys
from urllib.parse import quote

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.client import Client
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

AK = "QTWAOYTTINDUT2QVKYUC"
SK = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
DATE = "20240307T081530Z"
PID = "0a1b2c3d4e5f67890a1b2c3d4e5f6789"

# Capture the intermediate values the SDK computes (the SDK itself is not modified).
_captured = {}
_orig_cr = Signer._process_canonical_request
_orig_sts = Signer._process_string_to_sign


def _cap_cr(self, request, signed_headers):
    out = _orig_cr(self, request, signed_headers)
    _captured["canonical_request"] = out
    return out


def _cap_sts(self, canonical_request, t):
    out = _orig_sts(self, canonical_request, t)
    _captured["string_to_sign"] = out
    return out


Signer._process_canonical_request = _cap_cr
Signer._process_string_to_sign = _cap_sts


def path_param(v):
    """How Client._parse_path_params substitutes a path parameter."""
    return quote(str(v), safe="")


def sent_header_value(v):
    # The SDK re-encodes header values as utf-8 bytes viewed as latin-1 for
    # `requests`; undo that so the JSON holds the logical (utf-8) value.
    return v.encode("iso-8859-1").decode("utf-8")


def finish(vec, req):
    headers_out = [[k, sent_header_value(v)] for k, v in req.header_params.items()]
    auth = req.header_params["Authorization"]
    query = req.uri.split("?", 1)[1] if "?" in req.uri else ""
    vec["expected"] = {
        "canonical_request": _captured.pop("canonical_request"),
        "string_to_sign": _captured.pop("string_to_sign"),
        "authorization": auth,
        "x_sdk_date": req.header_params["X-Sdk-Date"],
        "signed_headers": auth.split("SignedHeaders=", 1)[1].split(",", 1)[0],
        "canonical_query": query,
        "uri": req.uri,
        "headers": headers_out,
    }
    return vec


def signer_vector(vid, desc, method, host, path, query=(), headers=None, body=None,
                  project_id=PID, date=DATE, scheme="https"):
    headers = dict(headers or {})
    vec = {
        "id": vid,
        "kind": "signer",
        "description": desc,
        "method": method,
        "scheme": scheme,
        "host": host,
        "path": path,
        "query": [[k, v] for k, v in query],
        "headers": [[k, v] for k, v in headers.items()],
        "project_id": project_id,
        "body": body,
        "x_sdk_date": date,
    }
    header_params = dict(headers)
    header_params["X-Sdk-Date"] = date
    req = SdkRequest(method=method, schema=scheme, host=host, resource_path=path,
                     query_params=list(query), header_params=header_params, body=body)
    creds = BasicCredentials(AK, SK, project_id)
    req = creds.sign_request(req)
    return finish(vec, req)


def client_vector(vid, desc, method, endpoint, template, path_params, query, headers, body):
    creds = BasicCredentials(AK, SK, PID)
    client = Client().with_config(HttpConfig.get_default_config()) \
        .with_credentials(creds).with_endpoints([endpoint])
    client.init_http_client()
    header_params = dict(headers)
    header_params["X-Sdk-Date"] = DATE
    req = client.build_future_request(method, template, dict(path_params), list(query),
                                      header_params, body, None, None, None, {}, None).result()
    # What the client handed to the signer, minus what the signer itself adds.
    pre = [[k, v] for k, v in req.header_params.items()
           if k not in ("Authorization", "X-Sdk-Date", "Host", "X-Project-Id",
                        "X-Sdk-Content-Sha256")]
    vec = {
        "id": vid,
        "kind": "client",
        "description": desc,
        "method": method,
        "scheme": req.schema,
        "host": req.host,
        "path": req.resource_path,
        "query": [[k, str(v)] for k, v in query],
        "headers": pre,
        "project_id": PID,
        "body": req.body if req.body is None or isinstance(req.body, str)
        else req.body.decode("utf-8"),
        "x_sdk_date": DATE,
    }
    return finish(vec, req)


def main():
    ep = "ecs.cn-north-4.myhuaweicloud.com"
    dcs = "dcs.ap-southeast-1.myhuaweicloud.com"
    json_ct = {"Content-Type": "application/json"}
    v = []
    v.append(signer_vector(
        "simple-get", "GET, no query, no body, JSON content type",
        "GET", ep, "/v1/%s/cloudservers/detail" % PID, headers=json_ct))
    v.append(signer_vector(
        "published-like", "the published guide's VPC list request shape, no project id",
        "GET", "service.region.example.com",
        "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
        query=[("limit", "2"), ("marker", "13551d6b-755d-4757-b956-536f674975c0")],
        headers=json_ct, project_id=None))
    v.append(signer_vector(
        "query-sorted", "query pairs given unsorted are sorted by key then value",
        "GET", dcs, "/v2/%s/instances" % PID,
        query=[("offset", "0"), ("limit", "1000"), ("engine", "Redis"), ("Name", "x")],
        headers=json_ct))
    v.append(signer_vector(
        "query-repeated-keys", "repeated keys: both pairs kept, sorted by value",
        "GET", dcs, "/v2/%s/instances" % PID,
        query=[("id", "zz"), ("id", "aa"), ("id", "mm"), ("a", "1")], headers=json_ct))
    v.append(signer_vector(
        "query-encoding", "values with space, +, /, =, &, ?, #, %, ~, *, unicode",
        "GET", ep, "/v1/%s/servers" % PID,
        query=[("name", "a b+c/d=e&f"), ("q", "?#%~*'!()"), ("u", "ünï中文"),
               ("k y", "v"), ("tilde~", "-_.~")],
        headers=json_ct))
    v.append(signer_vector(
        "query-empty-values", "empty values are sent as key=",
        "GET", ep, "/v1/%s/servers" % PID,
        query=[("marker", ""), ("limit", "10"), ("name", "")], headers=json_ct))
    v.append(signer_vector(
        "path-space", "path parameter with a space, quoted like the client quotes it",
        "GET", ep, "/v1/%s/tags/%s" % (PID, path_param("my tag")), headers=json_ct))
    v.append(signer_vector(
        "path-colon-tilde", "raw ':' and '~' and '@' in the path",
        "GET", ep, "/v1/%s/res:list/~user/a@b" % PID, headers=json_ct))
    v.append(signer_vector(
        "path-unicode", "unicode path parameter",
        "GET", ep, "/v1/%s/names/%s" % (PID, path_param("名字-ü")), headers=json_ct))
    v.append(signer_vector(
        "path-percent", "path parameter containing a literal '%'",
        "DELETE", ep, "/v1/%s/items/%s" % (PID, path_param("50%off")), headers=json_ct))
    v.append(signer_vector(
        "path-encoded-slash", "path parameter containing '/': quoted %2F but canonicalised as a separator",
        "GET", ep, "/v1/%s/objects/%s" % (PID, path_param("dir/file")), headers=json_ct))
    v.append(signer_vector(
        "path-trailing-slash", "path already ending in '/' gets no second slash",
        "GET", ep, "/v3/projects/", headers=json_ct, project_id=None))
    v.append(signer_vector(
        "path-root", "root path",
        "GET", ep, "/", headers=json_ct, project_id=None))
    v.append(signer_vector(
        "path-invalid-escape", "path with an invalid escape and a non-utf8 escape",
        "GET", ep, "/v1/%zz/%FF/x%2", headers=json_ct))
    v.append(signer_vector(
        "post-json", "POST with a JSON body",
        "POST", dcs, "/v2/%s/instances/batch-delete" % PID,
        headers={"Content-Type": "application/json;charset=UTF-8"},
        body=json.dumps({"instances": ["a", "b"], "all_failure": False})))
    v.append(signer_vector(
        "put-json-unicode", "PUT with a JSON body containing non-ASCII text",
        "PUT", dcs, "/v2/%s/instances/abc" % PID, headers=json_ct,
        body='{"description":"描述 ünï","name":"x"}'))
    v.append(signer_vector(
        "patch-lowercase-method", "lower-case method is upper-cased in the canonical request",
        "patch", dcs, "/v2/%s/instances/abc" % PID, headers=json_ct, body='{"a":1}'))
    v.append(signer_vector(
        "host-with-port", "host with a non-default port is signed with the port",
        "GET", "127.0.0.1:18443", "/v1/%s/cloudservers/detail" % PID,
        query=[("limit", "1")], headers=json_ct, scheme="http"))
    v.append(signer_vector(
        "host-with-default-port", "explicit :443 in the URL is kept in Host",
        "GET", "%s:443" % ep, "/v1/%s/servers" % PID, headers=json_ct))
    v.append(signer_vector(
        "underscore-headers-unsigned", "headers with '_' are sent but not signed",
        "GET", ep, "/v1/%s/servers" % PID,
        headers={"Content-Type": "application/json", "X_Custom_Header": "unsigned",
                 "my_trace": "abc", "X-Trace-Id": "signed"}))
    v.append(signer_vector(
        "mixed-case-whitespace", "mixed-case names, whitespace around values",
        "GET", ep, "/v1/%s/servers" % PID,
        headers={"CONTENT-type": "  application/json ", "X-Custom-VALUE": "\t a  b \t",
                 "x-lower": "v"}))
    v.append(signer_vector(
        "explicit-host-header", "a caller-supplied Host header is used instead of the netloc",
        "GET", "%s:8443" % ep, "/v1/%s/servers" % PID,
        headers={"Content-Type": "application/json", "host": "override.example.com"}))
    v.append(signer_vector(
        "no-content-type", "no Content-Type header at all",
        "GET", ep, "/v1/%s/servers" % PID))
    v.append(signer_vector(
        "non-json-content-type-body", "non-JSON content type: X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD",
        "POST", ep, "/v1/%s/upload" % PID,
        headers={"Content-Type": "text/plain"}, body="hello world"))
    v.append(signer_vector(
        "non-json-content-type-empty", "non-JSON content type with empty body: empty-body hash",
        "GET", ep, "/v1/%s/upload" % PID, headers={"Content-Type": "application/xml"}))
    v.append(signer_vector(
        "leap-day-date", "another date (leap day, end of day)",
        "GET", ep, "/v1/%s/servers" % PID, headers=json_ct, date="20240229T235959Z"))
    v.append(signer_vector(
        "old-date", "a date before 2000",
        "GET", ep, "/v1/%s/servers" % PID, headers=json_ct, date="19991231T000000Z"))
    v.append(signer_vector(
        "koophone-style", "KooPhone-like POST with query and body",
        "POST", "cph.cn-east-3.myhuaweicloud.com", "/v1/%s/cloud-phone/phones/batch-restart" % PID,
        query=[("dry_run", "false")],
        headers={"Content-Type": "application/json", "X-Language": "en-us"},
        body='{"phones":[{"phone_id":"p1"},{"phone_id":"p2"}]}'))

    # Through the real client: adds User-Agent and default Content-Type.
    v.append(client_vector(
        "client-get", "Client.build_future_request GET with project_id path param",
        "GET", "https://" + dcs, "/v2/{project_id}/instances", {},
        [("limit", 10), ("offset", 0), ("name", "my redis")], {}, None))
    v.append(client_vector(
        "client-post", "Client.build_future_request POST with JSON body",
        "POST", "https://ddm.cn-north-4.myhuaweicloud.com:443", "/v1/{project_id}/instances/{instance_id}/action",
        {"instance_id": "i d/1"}, [], {}, {"restart": {}}))

    out = {
        "generator": "scripts/gen_signer_vectors.py",
        "sdk": "huaweicloudsdkcore==%s" % importlib.metadata.version("huaweicloudsdkcore"),
        "python": sys.version.split()[0],
        "access_key": AK,
        "secret_key": SK,
        "note": "The AK/SK are the public example values from Huawei's API Request Signing Guide, not real credentials.",
        "vectors": v,
    }
    here = os.path.dirname(os.path.abspath(__file__))
    dest = os.path.join(here, "..", "tests", "fixtures", "sdk_signer_vectors.json")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print("wrote %d vectors to %s" % (len(v), os.path.normpath(dest)))


if __name__ == "__main__":
    main()
