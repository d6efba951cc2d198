"""``tether approvals show`` prints a record diff as before → after (issue 15, item 20)."""

from __future__ import annotations

import json

from tether.service import readable_preview

TRYTON_PREVIEW = json.dumps(
    {
        "action": "write",
        "model": "party.party",
        "record_id": 12,
        "changes": {
            "email": {"before": "old@acme.example", "after": "new@acme.example"},
            "phone": {"before": None, "after": "+44 20 7946 0001"},
            "addresses": {"before": [{"city": "Leeds"}], "after": [{"city": "York"}]},
        },
    }
)


def test_a_record_diff_reads_field_by_field() -> None:
    assert readable_preview(TRYTON_PREVIEW).splitlines() == [
        "write party.party 12",
        "  email: old@acme.example → new@acme.example",
        "  phone: (none) → +44 20 7946 0001",
        '  addresses: [{"city": "Leeds"}] → [{"city": "York"}]',
    ]


def test_other_json_is_indented_and_text_is_kept() -> None:
    assert readable_preview('{"a": 1}') == '{\n  "a": 1\n}'
    mail = "To: bob@acme.example\nSubject: Hi\n\nHello"
    assert readable_preview(mail) == mail
    assert readable_preview("{not json") == "{not json"
