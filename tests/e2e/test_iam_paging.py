"""IAM listings page by Marker and MaxItems (keyset pages in the store), with boto3's
paginators against a real `keyless serve --dev`."""

import threading

import boto3
import pytest
from botocore.config import Config

from conftest import ACCOUNT, Server

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
TRUST = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":'
         f'"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}')


def allow(action):
    return ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"%s","Resource":"*"}]}'
            % action)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("paging") / "data", ["--dev"]).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def iam(server):
    admin = server.admin_env()

    def client():
        return boto3.client("iam", endpoint_url=server.url, region_name="us-east-1", config=NO_RETRY,
                            aws_access_key_id=admin["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=admin["AWS_SECRET_ACCESS_KEY"])
    return client


def pages(client, operation, key, size, **kw):
    """Every page of a listing, as lists of the items' `key`."""
    paginator = client.get_paginator(operation)
    return [[item[key] if isinstance(item, dict) else item for item in page[field]]
            for page in paginator.paginate(PaginationConfig={"PageSize": size}, **kw)
            for field in [next(f for f in page if isinstance(page[f], list))]]


def test_every_role_is_listed_once_while_roles_come_and_go(iam):
    client = iam()
    stable = [f"stable-{i:03d}" for i in range(150)]
    for name in stable:
        client.create_role(RoleName=name, Path="/paging/", AssumeRolePolicyDocument=TRUST)

    stop = threading.Event()
    churned = []
    created = [0]
    failures = []

    def churn():
        writer = iam()
        i = 0
        try:
            while not stop.is_set():
                # Names that sort before, between and after the stable ones.
                name = [f"achurn-{i}", f"stable-{i % 150:03d}x{i}", f"zchurn-{i}"][i % 3]
                writer.create_role(RoleName=name, Path="/paging/", AssumeRolePolicyDocument=TRUST)
                churned.append(name)
                created[0] += 1
                if len(churned) > 4:
                    writer.delete_role(RoleName=churned.pop(0))
                i += 1
        except Exception as e:  # reported by the test thread
            failures.append(e)

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for size in (1, 7, 100):
            for _ in range(2 if size > 1 else 1):
                listed = [n for page in pages(client, "list_roles", "RoleName", size, PathPrefix="/paging/")
                          for n in page]
                assert len(listed) == len(set(listed)), "a role was listed twice"
                assert listed == sorted(listed), "pages are in name order"
                missing = [n for n in stable if n not in set(listed)]
                assert not missing, missing
                if size == 1:
                    assert len(listed) >= 150
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not failures, failures
    assert created[0] > 20, "roles were created and deleted while the listings ran"


def test_every_listing_pages_by_marker(iam):
    client = iam()
    client.create_role(RoleName="many-policies", AssumeRolePolicyDocument=TRUST)
    inline = [f"inline-{i:02d}" for i in range(12)]
    for name in inline:
        client.put_role_policy(RoleName="many-policies", PolicyName=name, PolicyDocument=allow("iam:GetRole"))
    managed = [f"managed-{i:02d}" for i in range(12)]
    arns = []
    for name in managed:
        arn = client.create_policy(PolicyName=name, Path="/paging/",
                                   PolicyDocument=allow("iam:GetRole"))["Policy"]["Arn"]
        arns.append(arn)
        if int(name[-2:]) % 2 == 0:
            client.attach_role_policy(RoleName="many-policies", PolicyArn=arn)

    for size in (1, 5, 1000):
        assert [n for p in pages(client, "list_role_policies", "PolicyNames", size,
                                 RoleName="many-policies") for n in p] == inline
        assert [n for p in pages(client, "list_attached_role_policies", "PolicyName", size,
                                 RoleName="many-policies") for n in p] == managed[::2]
        assert [n for p in pages(client, "list_policies", "PolicyName", size, Scope="Local",
                                 PathPrefix="/paging/") for n in p] == managed
        assert [n for p in pages(client, "list_policies", "PolicyName", size, OnlyAttached=True,
                                 PathPrefix="/paging/") for n in p] == managed[::2]
    # Pages hold MaxItems each, the last one the rest.
    sizes = [len(p) for p in pages(client, "list_role_policies", "PolicyNames", 5, RoleName="many-policies")]
    assert sizes == [5, 5, 2]
    # Each listed managed policy carries its attachment count.
    listed = client.list_policies(Scope="Local", PathPrefix="/paging/", MaxItems=3)
    assert [p["AttachmentCount"] for p in listed["Policies"]] == [1, 0, 1]
    assert listed["IsTruncated"] is True and listed["Marker"]

    # A marker that no page handed out is refused, not read as a name.
    with pytest.raises(client.exceptions.ClientError) as bad:
        client.list_roles(Marker="%%%%")
    assert bad.value.response["Error"] == {
        "Type": "Sender", "Code": "InvalidInput",
        "Message": "The marker is not valid: pass the Marker of the previous page unchanged."}
