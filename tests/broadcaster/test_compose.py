"""Compose: the template library, the sandbox, the render context, validation, previews and costs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from broadcaster import compose
from broadcaster.campaigns import CampaignError, NewCampaign, create_campaign
from broadcaster.compose import ProblemCode, RouteLimit, TemplateError
from broadcaster.config import Settings, load_settings
from broadcaster.models import Audience, OptOut, Subscriber
from carriers import sms

MANDATED_2024 = (
    "Toàn dân tích cực tham gia phòng, chống mua bán người. Khi phát hiện dấu hiệu liên quan đến mua bán "
    "người hãy thông báo ngay cho cơ quan Công an nơi gần nhất hoặc Tổng đài quốc gia 111 để được tư vấn, "
    "hỗ trợ, hướng dẫn kịp thời"
)
TAY_NINH_DISTRICTS = ("703", "705", "706", "707", "708", "709", "710", "711", "712")
META = '{#\ntitle = "Thử"\nyear = 2024\nsource = "kiểm thử"\nencoding = "auto"\nvariables = []\n#}\n'
"""Seven lines of metadata: the body starts on line 8 of the file."""


def _settings(tmp_path: Path, **extra: str) -> Settings:
    """Default settings in a workspace of the test's own, whatever the environment says."""
    return load_settings(tmp_path, environ=extra)


def _template(body: str, meta: str = META, name: str = "thu") -> compose.Template:
    return compose.parse_template(name, Path(f"{name}.j2"), meta + body)


def _context(**values: str) -> dict[str, object]:
    base = compose.base_context(
        campaign="Thử", province="Tỉnh Tây Ninh", province_code="72", department="Sở KH&CN", year=2024
    )
    return (
        compose.district_context(
            base,
            district_code=values.pop("district_code", "705"),
            district=values.pop("district", "Huyện Tân Biên"),
            police_phone=values.pop("police_phone", None),
        )
        | values
    )


class TestMandatedText:
    def test_the_library_holds_the_mandated_text_exactly(self) -> None:
        """30-7/2024 renders to the text of seed 004, character for character (227 characters)."""
        template = compose.load_template("30-7/2024")
        assert compose.render(template, _context()) == MANDATED_2024
        assert len(MANDATED_2024) == 227
        assert template.meta.year == 2024 and template.meta.encoding == sms.AUTO

    def test_with_diacritics_it_is_four_ucs2_segments(self) -> None:
        """Under 'unicode' the mandated text is sent as written: UCS-2, 227 characters, 4 segments."""
        rendered = compose.measure(compose.load_template("30-7/2024"), _context(), sms.UNICODE)
        assert (rendered.encoding, rendered.characters, rendered.segments, rendered.folded) == (
            sms.UCS2,
            227,
            4,
            False,
        )
        assert rendered.text == MANDATED_2024

    def test_auto_folds_it_to_two_gsm7_segments(self) -> None:
        """Under 'auto' folding halves the cost: GSM-7, 227 characters, 2 segments, nothing replaced."""
        rendered = compose.measure(compose.load_template("30-7/2024"), _context(), sms.AUTO)
        assert (rendered.encoding, rendered.characters, rendered.segments, rendered.folded) == (
            sms.GSM7,
            227,
            2,
            True,
        )
        assert rendered.replaced == ()
        assert rendered.text.startswith("Toan dan tich cuc tham gia phong, chong mua ban nguoi.")


class TestSegmentBoundaries:
    @pytest.mark.parametrize(
        ("text", "policy", "encoding", "segments"),
        [
            ("a" * 160, sms.UNICODE, sms.GSM7, 1),
            ("a" * 161, sms.UNICODE, sms.GSM7, 2),
            ("a" * 306, sms.UNICODE, sms.GSM7, 2),
            ("a" * 307, sms.UNICODE, sms.GSM7, 3),
            ("a" * 159 + "€", sms.UNICODE, sms.GSM7, 2),  # the extension character costs two septets
            ("ă" * 70, sms.UNICODE, sms.UCS2, 1),
            ("ă" * 71, sms.UNICODE, sms.UCS2, 2),
            ("ă" * 134, sms.UNICODE, sms.UCS2, 2),
            ("ă" * 135, sms.UNICODE, sms.UCS2, 3),
            ("ă" * 70, sms.AUTO, sms.UCS2, 1),  # folding would not save a segment: kept as written
            ("ă" * 71, sms.AUTO, sms.GSM7, 1),  # folding saves one: sent "khong dau"
            ("ă" * 161, sms.AUTO, sms.GSM7, 2),
            ("ă" * 71, sms.ASCII, sms.GSM7, 1),
        ],
    )
    def test_rendered_length_decides_encoding_and_segments(
        self, text: str, policy: str, encoding: str, segments: int
    ) -> None:
        """A district variable rendering to an exact length lands on the right side of each boundary."""
        rendered = compose.measure(_template("{{ district }}"), _context(district=text), policy)
        assert (rendered.encoding, rendered.segments) == (encoding, segments)


SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ self.__init__.__globals__['__builtins__']['open']('/etc/passwd').read() }}",
    "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
    "{{ range.__subclasses__() }}",
    "{{ ''|attr('__class__') }}",
    "{{ district['__class__'] }}",
    "{{ [1]|map(attribute='__class__')|list }}",
    "{{ '{0.__class__.__init__.__globals__}'.format(district) }}",
    "{% set a = '__cla' ~ 'ss__' %}{{ district|attr(a) }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}{{ os.system('touch MARKER') }}",
    "{% from 'os' import system %}{{ system('touch MARKER') }}",
    "{% extends '/etc/passwd' %}",
    "{{ 'x' * 100000000 }}",
    "{{ 7 ** 1000000 }}",
]


class TestSandbox:
    @pytest.mark.parametrize("attempt", SANDBOX_ESCAPES)
    def test_escape_attempts_are_refused_with_a_template_error(
        self, attempt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each escape is refused (when parsed or when rendered) as an 'unsafe' TemplateError; nothing runs."""
        monkeypatch.chdir(tmp_path)
        with pytest.raises(TemplateError) as caught:
            template = _template("Xin chào.\n" + attempt)
            compose.render(template, _context())
        assert caught.value.code == ProblemCode.UNSAFE
        assert caught.value.line == 9, str(caught.value)
        assert "dòng 9" in str(caught.value)
        assert not (tmp_path / "MARKER").exists()

    def test_refused_before_rendering(self) -> None:
        """A literal private attribute is refused by parse_template, naming the attributes in reading order."""
        with pytest.raises(TemplateError, match=r"'__class__', '__mro__'") as caught:
            _template("{{ ''.__class__.__mro__ }}")
        assert caught.value.code == ProblemCode.UNSAFE

    def test_validation_reports_an_escape_as_a_problem(self) -> None:
        """validate() on source text turns the refusal into a Problem instead of raising."""
        problems = compose.validate(META + "{{ cycler.__init__.__globals__ }}", policy=sms.AUTO, contexts=[_context()])
        assert [p.code for p in problems] == [ProblemCode.UNSAFE]
        assert "__globals__" in problems[0].message

    def test_ordinary_jinja_still_works(self) -> None:
        """Conditions, filters, string methods and safe loops are allowed."""
        body = "{% if police_phone != hotline %}Gọi {{ police_phone }}{% else %}Gọi {{ hotline|upper }}{% endif %}"
        body += "{% for i in range(2) %}.{% endfor %} {{ district.replace('Huyện ', '') }}"
        assert compose.render(_template(body), _context()) == "Gọi 111.. Tân Biên"
        local = _context(police_phone="0276 3822 113")
        assert compose.render(_template(body), local).startswith("Gọi 0276 3822 113")


class TestStrictUndefined:
    def test_a_missing_context_value_is_an_error_not_an_empty_string(self) -> None:
        """A recipient field absent from the context fails the render and names the line of the file."""
        template = _template("Kính gửi\n{{ name }}.")
        with pytest.raises(TemplateError) as caught:
            compose.render(template, _context())
        assert caught.value.code == ProblemCode.UNDEFINED
        assert caught.value.line == 9
        assert "'name' is undefined" in str(caught.value)

    def test_a_missing_recipient_attribute_is_an_error(self) -> None:
        """{{ recipient.x }} without that column in the list fails instead of sending a hole."""
        template = _template("Chào {{ recipient.chuc_vu }}")
        context = compose.recipient_context(_context(), name="A", commune="B", attributes={"khac": "1"})
        with pytest.raises(TemplateError, match="chuc_vu"):
            compose.render(template, context)
        ok = compose.recipient_context(_context(), name="A", commune="B", attributes={"chuc_vu": "Trưởng thôn"})
        assert compose.render(template, ok) == "Chào Trưởng thôn"


class TestSyntaxErrors:
    @pytest.mark.parametrize(
        ("body", "line"),
        [
            ("{{ district }", 8),
            ("Dòng một\nDòng hai {% if district %}", 9),
            ("Một\nHai\nBa {{ district | }}", 10),
            ("{% endif %}", 8),
        ],
    )
    def test_the_error_names_the_line_of_the_file(self, body: str, line: int) -> None:
        """Line numbers count the metadata lines too, so the operator finds the line in the editor."""
        with pytest.raises(TemplateError) as caught:
            _template(body)
        assert caught.value.code == ProblemCode.SYNTAX
        assert caught.value.line == line
        assert f"dòng {line}" in str(caught.value)

    def test_without_metadata_lines_count_from_one(self) -> None:
        """A file without the metadata comment reports the body's own line numbers."""
        with pytest.raises(TemplateError) as caught:
            compose.parse_template("x", Path("x.j2"), "\n\nMột\n{{ district")
        assert caught.value.line == 4

    def test_bad_metadata_is_explained(self) -> None:
        """An unknown metadata key or policy is refused with the key named."""
        with pytest.raises(TemplateError, match="encodng"):
            _template("x", meta='{#\nencodng = "auto"\n#}\n')
        with pytest.raises(TemplateError, match="'utf8'"):
            _template("x", meta='{#\nencoding = "utf8"\n#}\n')


class TestValidate:
    def test_a_good_template_has_no_problems(self) -> None:
        """The mandated text under auto, on a 4-part route, with a valid brandname: nothing to report."""
        limits = [RouteLimit("sim-viettel", "viettel", 4)]
        template = compose.load_template("30-7/2024")
        problems = compose.validate(template, policy=sms.AUTO, contexts=[_context()], limits=limits, sender="BOCONGAN")
        assert problems == []

    def test_syntax_error_in_source_text(self) -> None:
        """Source text with a syntax error gives one 'syntax' problem with its line."""
        problems = compose.validate(META + "Chào\n{{ district", policy=sms.AUTO, contexts=[_context()])
        assert [(p.code, p.line) for p in problems] == [(ProblemCode.SYNTAX, 9)]
        assert "dòng 9" in str(problems[0])

    def test_unknown_variables_are_listed_with_a_suggestion(self) -> None:
        """Each variable the context does not have is named, with its line and the closest known name."""
        problems = compose.validate(
            _template("Báo Công an {{ distric }}\n{{ so_dien_thoai }}"), policy=sms.AUTO, contexts=[_context()]
        )
        assert [(p.code, p.line) for p in problems] == [(ProblemCode.UNDEFINED, 8), (ProblemCode.UNDEFINED, 9)]
        assert "{{ distric }}" in problems[0].message and "{{ district }}?" in problems[0].message
        assert "{{ so_dien_thoai }}" in problems[1].message
        assert "police_phone" in problems[1].message  # the list of what is available

    def test_unsendable_characters_under_ascii(self) -> None:
        """An emoji cannot be folded: under 'ascii' it would become '?', so it is reported with its code point."""
        problems = compose.validate(_template("Cảnh giác 😀 nhé"), policy=sms.ASCII, contexts=[_context()])
        assert [p.code for p in problems] == [ProblemCode.UNSENDABLE]
        assert "U+1F600" in problems[0].message and "'unicode'" in problems[0].message

    def test_unsendable_on_a_route_without_unicode(self) -> None:
        """A route that cannot carry UCS-2 folds everything: the emoji is reported for that route."""
        limits = [RouteLimit("gsm-only", "viettel", 8, unicode=False), RouteLimit("full", "mobifone", 8)]
        problems = compose.validate(
            _template("Cảnh giác 😀 nhé"), policy=sms.UNICODE, contexts=[_context()], limits=limits
        )
        assert [p.code for p in problems] == [ProblemCode.UNSENDABLE]
        assert "gsm-only" in problems[0].message and "full" not in problems[0].message

    def test_over_the_route_cap_in_the_notify_style(self) -> None:
        """4 UCS-2 parts on a 3-part route: what, how far over, by how much to shorten, and the cheaper way."""
        problems = compose.validate(
            compose.load_template("30-7/2024"),
            policy=sms.UNICODE,
            contexts=[_context()],
            limits=[RouteLimit("sim-viettel", "viettel", 3)],
        )
        assert [p.code for p in problems] == [ProblemCode.TOO_LONG]
        assert problems[0].message == (
            "Tin nhắn dài 4 phần SMS (UCS-2, có dấu, 227 ký tự), vượt giới hạn 3 phần của tuyến sim-viettel. "
            "Hãy rút gọn còn tối đa 201 ký tự (bớt 26), hoặc gửi không dấu (chính sách 'ascii'): "
            "khi đó tin dài 2 phần."
        )

    def test_auto_is_measured_folded(self) -> None:
        """Under 'auto' the mandated text is 2 parts: it passes a 2-part cap and fails a 1-part one."""
        template = compose.load_template("30-7/2024")
        assert compose.validate(template, policy=sms.AUTO, contexts=[_context()], max_parts=2) == []
        problems = compose.validate(template, policy=sms.AUTO, contexts=[_context()], max_parts=1)
        assert [p.code for p in problems] == [ProblemCode.TOO_LONG]
        assert "dài 2 phần SMS (GSM-7, không dấu, 227 ký tự), vượt giới hạn 1 phần đã đặt" in problems[0].message
        assert "tối đa 160 ký tự (bớt 67)" in problems[0].message

    def test_routes_with_the_same_cap_are_reported_together(self) -> None:
        """Several routes over the same cap make one problem naming each of them."""
        limits = [RouteLimit("a", "viettel", 2), RouteLimit("b", "mobifone", 2), RouteLimit("c", "itel", 9)]
        problems = compose.validate(
            compose.load_template("30-7/2024"), policy=sms.UNICODE, contexts=[_context()], limits=limits
        )
        assert len(problems) == 1
        assert "của các tuyến a, b." in problems[0].message

    def test_the_longest_district_is_named(self) -> None:
        """A per-district text is measured for every district and the longest one is reported."""
        template = _template("{{ 'ă' * 60 }} {{ district }}")
        contexts = [
            _context(district="Huyện A", district_code="1"),
            _context(district="Huyện Dài Hơn Hẳn", district_code="2"),
        ]
        problems = compose.validate(template, policy=sms.UNICODE, contexts=contexts, max_parts=1)
        assert len(problems) == 1 and "Tin nhắn cho Huyện Dài Hơn Hẳn dài 2 phần" in problems[0].message

    def test_brandname_over_eleven_characters(self) -> None:
        """A sender of 13 characters is refused with its length and the limit."""
        problems = compose.validate(_template("x"), policy=sms.AUTO, contexts=[_context()], sender="TUYENTRUYEN12")
        assert [p.code for p in problems] == [ProblemCode.BRANDNAME]
        assert "dài 13 ký tự" in problems[0].message and "tối đa 11" in problems[0].message

    def test_unknown_policy(self) -> None:
        """A policy that does not exist is a problem naming the choices."""
        problems = compose.validate(_template("x"), policy="utf8", contexts=[_context()])
        assert [p.code for p in problems] == [ProblemCode.POLICY]
        assert "auto" in problems[0].message

    def test_with_the_configuration(self, tmp_path: Path) -> None:
        """validate_campaign uses the province's districts, the routes' caps (simulator: 10) and the sender."""
        settings = _settings(tmp_path)
        assert compose.validate_campaign(compose.load_template("cao-diem/viec-nhe-luong-cao"), settings) == []
        long = _template("ă" * 700)  # 11 UCS-2 parts
        problems = compose.validate_campaign(long, settings, policy=sms.UNICODE)
        assert [p.code for p in problems] == [ProblemCode.TOO_LONG]
        assert "vượt giới hạn 10 phần của các tuyến sim-viettel" in problems[0].message

    def test_a_route_option_sets_its_part_limit(self, tmp_path: Path) -> None:
        """A route's max_parts option is its limit: the mandated text with diacritics (4 parts) exceeds 3."""
        (tmp_path / "broadcaster.toml").write_text(
            '[[routes.viettel]]\nname = "smsc-3"\nadapter = "simulator"\noptions = { max_parts = 3 }\n',
            encoding="utf-8",
        )
        settings = _settings(tmp_path)
        assert compose.RouteLimit("smsc-3", "viettel", 3) in compose.route_limits(settings)
        problems = compose.validate_campaign(compose.load_template("30-7/2024"), settings, policy=sms.UNICODE)
        assert len(problems) == 1 and "vượt giới hạn 3 phần của tuyến smsc-3" in problems[0].message
        assert compose.validate_campaign(compose.load_template("30-7/2024"), settings, policy=sms.AUTO) == []

    def test_create_campaign_refuses_a_template_over_the_cap(self, engine: Engine, settings: Settings) -> None:
        """Campaign creation runs the validation and refuses before storing anything."""
        path = settings.workspace / "dai.j2"
        path.write_text(META.replace('"auto"', '"unicode"') + "ă" * 700, encoding="utf-8")
        with pytest.raises(CampaignError, match="vượt giới hạn 10 phần"):
            create_campaign(
                engine, settings, NewCampaign(name="x", template=str(path), audiences=("a",), created_by="op")
            )


class TestContext:
    def test_one_context_per_district_of_the_province(self, tmp_path: Path) -> None:
        """The default province (72) gives its nine districts, each with the campaign-wide values."""
        contexts = compose.settings_contexts(_settings(tmp_path), campaign="Cao điểm", year=2025)
        assert [c["district_code"] for c in contexts] == list(TAY_NINH_DISTRICTS)
        first = contexts[1]
        assert first["district"] == "Huyện Tân Biên" and first["province"] == "Tỉnh Tây Ninh"
        assert first["year"] == 2025 and first["theme"] == compose.THEMES[2025]
        assert first["hotline"] == "111" and first["campaign"] == "Cao điểm"
        assert first["department"] == "Sở Khoa học và Công nghệ"
        assert set(first) == compose.KNOWN_VARIABLES - compose.RECIPIENT_FIELDS

    def test_police_phone_from_the_settings_else_111(self, tmp_path: Path) -> None:
        """A district with a configured police number gets it; the others get the 111 hotline."""
        (tmp_path / "broadcaster.toml").write_text(
            '[province.police_phones]\n"705" = "0276 3822 113"\n', encoding="utf-8"
        )
        settings = _settings(tmp_path)
        template = compose.load_template("cao-diem/viec-nhe-luong-cao")
        rows = compose.preview(template, compose.settings_contexts(settings), sms.UNICODE)
        assert [r.district_code for r in rows] == list(TAY_NINH_DISTRICTS)
        by_code = {r.district_code: r.text for r in rows}
        assert by_code["705"].endswith("báo Công an Huyện Tân Biên hoặc gọi 0276 3822 113.")
        assert by_code["711"].endswith("báo Công an Huyện Bến Cầu hoặc gọi 111.")

    def test_unknown_district_code(self, tmp_path: Path) -> None:
        """An unknown district code is refused with the province's codes."""
        with pytest.raises(compose.PreviewError, match=r"'999'.*703, 705"):
            compose.settings_contexts(_settings(tmp_path), districts=["999"])

    def test_a_text_without_district_variables_previews_as_one_row(self, tmp_path: Path) -> None:
        """The mandated text is the same everywhere: collapsed, one row without a district; else one per context."""
        template, contexts = compose.load_template("30-7/2024"), compose.settings_contexts(_settings(tmp_path))
        rows = compose.preview(template, contexts, sms.AUTO, collapse=True)
        assert len(rows) == 1 and rows[0].district == "" and rows[0].segments == 2
        assert len(compose.preview(template, contexts, sms.AUTO)) == len(TAY_NINH_DISTRICTS)


@pytest.mark.parametrize("template", compose.list_templates(), ids=lambda t: t.name)
class TestLibrary:
    def test_previews_with_the_default_configuration(self, template: compose.Template, tmp_path: Path) -> None:
        """Every template renders for every district with the defaults and passes validation."""
        settings = _settings(tmp_path)
        contexts = compose.settings_contexts(settings)
        policy = compose.policy_for(template, settings)
        rows = compose.preview(template, contexts, policy)
        assert rows and all(r.text for r in rows)
        assert compose.validate_campaign(template, settings) == []

    def test_is_short(self, template: compose.Template, tmp_path: Path) -> None:
        """At most 4 UCS-2 parts with diacritics and 2 parts folded, in every district."""
        summary = compose.summarize(template, compose.settings_contexts(_settings(tmp_path)), sms.AUTO)
        assert summary.unicode_segments[1] <= 4
        assert summary.folded_segments[1] <= 2

    def test_metadata_is_complete_and_honest(self, template: compose.Template) -> None:
        """Title, year, source and policy are set, and the declared variables are the ones used."""
        meta = template.meta
        assert meta.title and meta.year in (2024, 2025) and meta.source
        assert meta.encoding in sms.POLICIES
        assert set(meta.variables) == template.variables
        assert template.variables <= compose.KNOWN_VARIABLES


class TestCost:
    def test_per_district_rendering_times_recipients(self, tmp_path: Path) -> None:
        """Each district renders once; its parts multiply its recipients; prices are per part."""
        settings = _settings(tmp_path)
        contexts = compose.settings_contexts(settings)
        counts = {("705", "viettel"): 1000, ("703", "viettel"): 10, ("705", "mobifone"): 5}
        lines = compose.estimate_cost(
            compose.load_template("30-7/2024"), contexts, sms.AUTO, counts, {"viettel": 800.0}
        )
        viettel, mobifone = sorted(lines, key=lambda line: line.carrier, reverse=True)
        assert (viettel.carrier, viettel.messages, viettel.segments) == ("viettel", 1010, 2020)
        assert viettel.total == 2020 * 800
        assert viettel.price_per_message == 1600
        assert (mobifone.messages, mobifone.segments, mobifone.price, mobifone.total) == (5, 10, None, None)

    def test_a_route_without_unicode_is_priced_folded(self, tmp_path: Path) -> None:
        """Under 'unicode' a carrier whose route cannot carry UCS-2 pays for the folded text."""
        contexts = compose.settings_contexts(_settings(tmp_path))
        counts = {("705", "viettel"): 10, ("705", "itel"): 10}
        lines = {
            line.carrier: line
            for line in compose.estimate_cost(
                compose.load_template("30-7/2024"),
                contexts,
                sms.UNICODE,
                counts,
                {},
                unicode_by_carrier={"viettel": True, "itel": False},
            )
        }
        assert lines["viettel"].segments == 40 and lines["itel"].segments == 20

    def test_audience_counts_exclude_opted_out_numbers(self, engine: Engine) -> None:
        """Recipients per district × carrier come from the subscriber table, minus opted-out numbers."""
        with Session(engine) as session, session.begin():
            audience = Audience(name="Tây Ninh", province_code="72")
            session.add(audience)
            session.flush()
            assert audience.id is not None
            for i, (district, carrier) in enumerate([("705", "viettel")] * 3 + [("703", "mobifone")] * 2):
                session.add(
                    Subscriber(
                        audience_id=audience.id,
                        msisdn=f"+8490000000{i}",
                        province_code="72",
                        district_code=district,
                        carrier=carrier,
                    )
                )
            session.add(OptOut(msisdn="+84900000000"))
        assert compose.audience_counts(engine, ["Tây Ninh"]) == {("705", "viettel"): 2, ("703", "mobifone"): 2}
        with pytest.raises(compose.PreviewError, match="'Khác'"):
            compose.audience_counts(engine, ["Khác"])


class TestPerRecipient:
    def test_renders_once_per_recipient(self) -> None:
        """A template with recipient fields renders for each recipient, measured under the policy."""
        template = _template("Kính gửi {{ name }} ({{ commune }}): hãy cảnh giác.")
        recipients = [{"name": "An", "commune": "Xã Tân Lập"}, {"name": "Bình" * 30, "commune": "Xã Hòa Hiệp"}]
        rows = list(compose.render_recipients(template, _context(), recipients, sms.UNICODE))
        assert rows[0].text == "Kính gửi An (Xã Tân Lập): hãy cảnh giác."
        assert [r.segments for r in rows] == [1, 3]
        assert template.per_recipient and not template.per_district

    def test_previewed_and_validated_with_a_sample_recipient(self) -> None:
        """Before the list is known, a per-recipient template is measured for a sample recipient."""
        template = _template("Kính gửi {{ name }}, {{ recipient.chuc_vu }} {{ commune }}.")
        rows = compose.preview(template, [_context()], sms.UNICODE)
        sample = compose.SAMPLE_RECIPIENT
        assert rows[0].text == f"Kính gửi {sample['name']}, [chuc_vu] {sample['commune']}."
        assert compose.validate(template, policy=sms.AUTO, contexts=[_context()], max_parts=1) == []

    def test_district_templates_are_not_rendered_per_recipient(self) -> None:
        """A template without recipient fields is refused: it renders once per district."""
        with pytest.raises(TemplateError):
            list(compose.render_recipients(compose.load_template("30-7/2024"), _context(), [{}], sms.AUTO))


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
    return subprocess.run(
        [sys.executable, "-m", "broadcaster", "--dir", str(tmp_path), "template", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


class TestCommand:
    def test_preview_json_of_the_mandated_text(self, tmp_path: Path) -> None:
        """`template preview 30-7/2024 --json`: one row (no district variable), folded to 2 GSM-7 parts."""
        proc = _cli(tmp_path, "preview", "30-7/2024", "--json")
        assert proc.returncode == 0, proc.stderr
        rows = json.loads(proc.stdout)
        assert rows == [
            {
                "district": None,
                "text": sms.fold(MANDATED_2024).text,
                "encoding": "gsm7",
                "characters": 227,
                "segments": 2,
            }
        ]

    def test_preview_json_per_district(self, tmp_path: Path) -> None:
        """A template using the district gives one row per district; --encoding unicode keeps UCS-2."""
        proc = _cli(tmp_path, "preview", "cao-diem/viec-nhe-luong-cao", "--json", "--encoding", "unicode")
        assert proc.returncode == 0, proc.stderr
        rows = json.loads(proc.stdout)
        assert [r["district"] for r in rows][:2] == ["Thành phố Tây Ninh", "Huyện Tân Biên"]
        assert len(rows) == len(TAY_NINH_DISTRICTS)
        for row in rows:
            assert set(row) == {"district", "text", "encoding", "characters", "segments"}
            assert row["encoding"] == "ucs2" and row["segments"] == 4 and row["characters"] == len(row["text"])
        one = json.loads(_cli(tmp_path, "preview", "cao-diem/viec-nhe-luong-cao", "--json", "--district", "711").stdout)
        assert len(one) == 1 and one[0]["district"] == "Huyện Bến Cầu"

    def test_preview_table_shows_parts_messages_and_prices(self, tmp_path: Path) -> None:
        """The readable preview with an audience prices messages and parts per carrier, and their total."""
        (tmp_path / "broadcaster.toml").write_text("[prices]\nviettel = 800\n", encoding="utf-8")
        from broadcaster import db

        engine = db.make_engine(f"sqlite:///{tmp_path / 'broadcaster.db'}")
        db.migrate(engine)
        with Session(engine) as session, session.begin():
            audience = Audience(name="Mẫu", province_code="72")
            session.add(audience)
            session.flush()
            assert audience.id is not None
            for i in range(3):
                session.add(
                    Subscriber(
                        audience_id=audience.id,
                        msisdn=f"+8498000000{i}",
                        province_code="72",
                        district_code="705",
                        carrier="viettel",
                    )
                )
        engine.dispose()
        proc = _cli(tmp_path, "preview", "30-7/2024", "--audience", "Mẫu")
        assert proc.returncode == 0, proc.stderr
        assert "Tổng: 3 tin nhắn = 6 phần SMS; thành tiền 4.800 đ." in proc.stdout
        assert "GSM-7 (đã bỏ dấu)" in proc.stdout

    def test_list_json(self, tmp_path: Path) -> None:
        """`template list --json` names every template with its parts with and without diacritics."""
        proc = _cli(tmp_path, "list", "--json")
        assert proc.returncode == 0, proc.stderr
        rows = {row["name"]: row for row in json.loads(proc.stdout)}
        assert set(rows) == {t.name for t in compose.list_templates()}
        assert (rows["30-7/2024"]["segments_ucs2"], rows["30-7/2024"]["segments_folded"]) == (4, 2)

    def test_unknown_template_is_one_line(self, tmp_path: Path) -> None:
        """A template that does not exist is one line on stderr and exit code 1, no traceback."""
        proc = _cli(tmp_path, "preview", "khong-co")
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: không có mẫu tin nhắn 'khong-co'")
