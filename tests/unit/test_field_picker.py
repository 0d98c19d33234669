"""``?fields=`` as PocketBase 0.22.26 picks it (answers observed on the real server; the
differential suite asks both servers the generated cases)."""

from __future__ import annotations

import pytest

from chalicelib.errors import BadRequest
from chalicelib.records.field_picker import names, parse, pick, pick_body, pick_items

HTML = (
    "<h1>Title</h1><p>one&amp;two</p><script>bad()</script><ul><li>a</li><li>b</li></ul>"
    "  日本語テキスト <b>bold</b>text"
)


@pytest.mark.parametrize(
    ("modifier", "excerpt"),
    [
        ("excerpt(200)", "Title one&two a b 日本語テキスト boldtext"),
        ("excerpt(12,true)", "Title one&tw..."),
        ("excerpt(40)", "Title one&two a b 日本語テキスト"),  # the space at the cut trimmed
        ("excerpt(19)", "Title one&two a b \ufffd"),  # a character cut after its first byte
        ("excerpt(21)", "Title one&two a b 日"),
        ("excerpt(0x10)", "Title one&two a"),
        ("excerpt(010)", "Title on"),  # octal, as Go reads it
        ("excerpt(5.0)", "Title"),
        ("excerpt(1_0)", "Title one&"),
        ("excerpt 5 TRUE", "Title..."),
        ("excerpt(7,yes)", "Title o"),  # not one of Go's booleans: no ellipsis
    ],
)
def test_excerpts_of_an_html_text(modifier: str, excerpt: str) -> None:
    assert pick({"d": HTML}, parse(f"d:{modifier}")) == {"d": excerpt}


def test_an_excerpt_leaves_out_what_void_and_excluded_elements_hold() -> None:
    text = "<p>a<img src=x>b</p><style>p{}</style><select><option>x</option></select>c"
    assert pick({"d": text}, parse("d:excerpt(50)")) == {"d": "ab c"}


@pytest.mark.parametrize(
    "fields",
    [
        "d:excerpt(0)",
        "d:excerpt()",
        "d:excerpt(a)",
        "d:excerpt(5.5)",
        "d:excerpt(1,2,3)",
        'd:excerpt("5")',
        "d:nope(1)",
        "d:",
        "d:excerpt(1__0)",
    ],
)
def test_modifiers_that_are_not_one_are_refused(fields: str) -> None:
    with pytest.raises(BadRequest):
        parse(fields)


def test_a_negative_excerpt_fails_only_on_a_text() -> None:
    picks = parse("d:excerpt(-3)")
    assert pick({"d": 7}, picks) == {"d": 7}
    with pytest.raises(BadRequest):
        pick({"d": "text"}, picks)


def test_paths_pick_from_nested_maps_lists_and_the_star() -> None:
    body = {"token": "t", "record": {"id": "r", "name": "<b>Ann</b>", "tags": [1, 2]}}
    assert pick(body, parse("token")) == {"token": "t"}
    assert pick(body, parse("record.name:excerpt(2),record.id")) == {
        "record": {"name": "An", "id": "r"}
    }
    assert pick(body, parse("record,record.id")) == {"record": body["record"]}
    assert pick(body, parse("*,record.id")) == {"token": "t", "record": {"id": "r"}}
    assert pick(body, parse("*:excerpt(1)")) == {"token": "t", "record": body["record"]}
    assert pick(body, parse("record.tags.x,token.y")) == {
        "token": "t",
        "record": {"tags": [1, 2]},
    }  # a path into a value that is no map keeps it
    assert pick({"a": [{"b": 1, "c": 2}, {"b": 3}]}, parse("a.b")) == {"a": [{"b": 1}, {"b": 3}]}
    assert pick(body, parse("nope")) == {}
    assert pick(body, parse(" , ")) == body
    assert pick({"n": "abc"}, parse("n,n:excerpt(1)")) == {"n": "a"}  # the last one counts


def test_a_picked_answer_has_its_keys_sorted_and_a_list_keeps_its_paging() -> None:
    assert list(pick_body({"b": 1, "a": {"d": 1, "c": 2}}, parse("*"))) == ["a", "b"]
    envelope = {"page": 1, "perPage": 30, "items": [{"id": "x", "name": "y"}]}
    assert pick_items(envelope, parse("name")) == {
        "items": [{"name": "y"}],
        "page": 1,
        "perPage": 30,
    }
    assert pick_items(envelope, parse("")) is envelope


def test_names_ignore_modifiers() -> None:
    assert names(parse("id,expand.user.name:excerpt(3),description:excerpt(5)")) == {
        "id": {},
        "expand": {"user": {"name": {}}},
        "description": {},
    }
