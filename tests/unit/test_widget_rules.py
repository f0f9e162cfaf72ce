"""Pure rules of the widget's backend: business hours in a time zone, file types by their first
bytes, and the local S3's POST policy checks (devstack/s3_post_policy.py) that tests rely on."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
import requests

from chalicelib.services import business_hours
from chalicelib.services.attachments import s3_client, sniff

WEEKDAYS = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
SHANGHAI = {"timezone": "Asia/Shanghai", "weekly": WEEKDAYS}


@pytest.mark.parametrize("utc, is_open", [
    ("2026-12-07T00:59:00", False),  # Monday 08:59 in Shanghai
    ("2026-12-07T01:00:00", True),  # Monday 09:00
    ("2026-12-07T09:59:00", True),  # Monday 17:59
    ("2026-12-07T10:00:00", False),  # Monday 18:00: closed
    ("2026-12-05T03:00:00", False),  # Saturday
])
def test_business_hours_are_read_in_their_time_zone(utc, is_open):
    at = datetime.fromisoformat(utc).replace(tzinfo=UTC)

    assert business_hours.is_open(SHANGHAI, at) is is_open


def test_the_next_opening_skips_the_weekend():
    friday_evening = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # Friday 20:00 in Shanghai

    assert business_hours.next_open(SHANGHAI, friday_evening) == datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def test_no_schedule_is_always_open_and_an_empty_one_never_opens():
    now = datetime.now(UTC)

    assert business_hours.is_open(None, now) and business_hours.next_open(None, now) is None
    closed = {"timezone": "UTC", "weekly": {}}
    assert not business_hours.is_open(closed, now) and business_hours.next_open(closed, now) is None


def test_a_day_open_until_midnight_closes_at_24_00():
    late = {"timezone": "UTC", "weekly": {"mon": [["20:00", "24:00"]]}}

    assert business_hours.is_open(late, datetime(2026, 12, 7, 23, 59, tzinfo=UTC))
    assert not business_hours.is_open(late, datetime(2026, 12, 8, 0, 0, tzinfo=UTC))


@pytest.mark.parametrize("first, expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    (b"GIF89a\x01\x00", "image/gif"),
    (b"GIF87a\x01\x00", "image/gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"%PDF-1.4\n", "application/pdf"),
    (b"MZ\x90\x00\x03\x00", None),  # a Windows executable
    (b"\x7fELF\x02\x01", None),
    (b"<svg xmlns=", None),
    (b"<html><script>", None),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
    (b"", None),
])
def test_a_file_is_what_its_first_bytes_say(first, expected):
    assert sniff(first) == expected


def test_a_tampered_upload_policy_is_refused_by_the_local_s3():
    """A browser cannot widen its policy: the signature covers it (as on S3)."""
    post = s3_client().generate_presigned_post(
        "kefu-test-attachments", "attachments/a_tamper", Fields={"Content-Type": "image/png"},
        Conditions=[{"Content-Type": "image/png"}, ["content-length-range", 1, 10]], ExpiresIn=60)
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if not (isinstance(c, list) and
                                                                   c[0] == "content-length-range")]
    fields = {**post["fields"], "policy": base64.b64encode(json.dumps(policy).encode()).decode()}

    response = requests.post(post["url"], data=fields, files={"file": ("a.png", b"\x89PNG" + bytes(100))},
                             timeout=30)

    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text


def test_a_field_the_policy_does_not_cover_is_refused_by_the_local_s3():
    post = s3_client().generate_presigned_post("kefu-test-attachments", "attachments/a_extra", ExpiresIn=60)

    response = requests.post(post["url"], data={**post["fields"], "acl": "public-read"},
                             files={"file": ("a.png", b"\x89PNG")}, timeout=30)

    assert response.status_code == 403
    assert "Extra input fields: acl" in response.text
