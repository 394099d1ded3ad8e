"""The console's pages. Each handler reads with ``broadcaster.api.queries`` or calls a use-case
function, then renders; none holds business logic. Forms post with a CSRF token; state changes
redirect (303) to the page that shows their result.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from audiences import divisions
from broadcaster import campaigns, compose
from broadcaster.api import audit, queries, tokens
from broadcaster.api.jobs import ImportJob, ImportJobs
from broadcaster.api.routes._common import MAX_ID, CampaignId, RunId
from broadcaster.api.routes.campaigns import LIFECYCLE, allowed_actions, apply
from broadcaster.api.routes.reports import FORMATS
from broadcaster.api.routes.reports import build as build_report
from broadcaster.api.routes.reports import render as render_report
from broadcaster.api.routes.templates import load_named
from broadcaster.api.routes.templates import preview as template_preview
from broadcaster.api.tokens import Principal, Role
from broadcaster.config import Settings
from broadcaster.models import Campaign, CampaignStatus, utcnow
from broadcaster.web import labels, session
from broadcaster.web._render import percent, render

router = APIRouter()


class LoginRequired(Exception):
    """No valid console session: the browser is sent to the sign-in page."""


def console_user(request: Request) -> Principal:
    principal = session.current(request)
    if principal is None:
        raise LoginRequired
    request.state.principal = principal
    return principal


User = Annotated[Principal, Depends(console_user)]


def need(user: Principal, role: str) -> None:
    if not user.may(role):
        msg = (
            f"Việc này cần vai trò “{labels.ROLE[role]}” trở lên; mã truy cập “{user.name}” "
            f"có vai trò “{labels.ROLE.get(user.role, user.role)}”."
        )
        raise HTTPException(status.HTTP_403_FORBIDDEN, msg)


async def check_csrf(request: Request) -> None:
    form = await request.form()
    submitted = form.get(session.CSRF_FIELD)
    if not session.csrf_valid(request, submitted if isinstance(submitted, str) else None):
        msg = "Biểu mẫu đã hết hạn hoặc không hợp lệ (thiếu mã chống giả mạo). Hãy tải lại trang rồi thử lại."
        raise HTTPException(status.HTTP_403_FORBIDDEN, msg)


Csrf = Depends(check_csrf)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _engine(request: Request) -> Any:
    return request.app.state.engine


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


# Sign in / out -----------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", dependencies=[Csrf])
def login(request: Request, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    principal = tokens.authenticate(_engine(request), token.strip())
    if principal is None:
        error = (
            "Mã truy cập không đúng hoặc đã bị thu hồi. Hãy dán lại đúng mã (bắt đầu bằng “bct_”), "
            "hoặc nhờ quản trị viên cấp mã mới bằng lệnh “broadcaster token create”."
        )
        return render(request, "login.html", {"next": _safe_next(next), "error": error}, status_code=401)
    response = _redirect(_safe_next(next))
    session.start(request, response, principal)
    return response


@router.post("/logout", dependencies=[Csrf])
def logout() -> Response:
    response = _redirect("/login")
    session.end(response)
    return response


# Dashboard and runs ------------------------------------------------------------------------------


def _progress_json(progress: queries.RunProgress) -> dict[str, Any]:
    run = progress.run
    totals = progress.totals
    return {
        "id": run.id,
        "campaign_id": run.campaign_id,
        "campaign": progress.campaign_name,
        "status": run.status,
        "status_label": labels.RUN_STATUS.get(run.status, run.status),
        "targeted": progress.targeted,
        "done": progress.done,
        "percent": percent(progress.done, progress.targeted),
        "totals": totals,
        "districts": [
            {
                "code": d.district_code,
                "name": d.district,
                "targeted": d.targeted,
                "done": d.done,
                "percent": percent(d.done, d.targeted),
                "counts": d.counts,
            }
            for d in progress.districts
        ],
    }


@router.get("/")
def dashboard(request: Request, user: User) -> Response:
    runs = queries.active_runs(_engine(request))
    return render(request, "dashboard.html", {"runs": runs, "page": "dashboard"})


@router.get("/dashboard.json")
def dashboard_json(request: Request, user: User) -> JSONResponse:
    return JSONResponse({"runs": [_progress_json(p) for p in queries.active_runs(_engine(request))]})


@router.get("/runs/{run_id}.json")
def run_json(request: Request, run_id: RunId, user: User) -> JSONResponse:
    progress = queries.run_progress(_engine(request), run_id)
    if progress is None:
        raise HTTPException(404, f"Không có đợt gửi số {run_id}.")
    return JSONResponse(_progress_json(progress))


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: RunId, user: User) -> Response:
    progress = queries.run_progress(_engine(request), run_id)
    if progress is None:
        raise HTTPException(404, f"Không có đợt gửi số {run_id}.")
    return render(request, "run.html", {"progress": progress, "page": "dashboard"})


# Campaigns ---------------------------------------------------------------------------------------


@router.get("/campaigns")
def campaigns_page(
    request: Request, user: User, status_: Annotated[str | None, Query(alias="status")] = None
) -> Response:
    if status_ not in (None, "", *labels.CAMPAIGN_STATUS):
        status_ = None
    total, items = queries.campaigns(_engine(request), status=status_ or None, limit=200)
    return render(
        request, "campaigns.html", {"campaigns": items, "total": total, "status": status_ or "", "page": "campaigns"}
    )


@router.get("/approvals")
def approvals_page(request: Request, user: User) -> Response:
    _, items = queries.campaigns(_engine(request), status=CampaignStatus.AWAITING_APPROVAL, limit=200)
    return render(request, "approvals.html", {"campaigns": items, "page": "approvals"})


def _campaign(request: Request, campaign_id: int) -> Campaign:
    found = queries.campaign(_engine(request), campaign_id)
    if found is None:
        raise HTTPException(404, f"Không có chiến dịch số {campaign_id}.")
    return found


def _actions_for(user: Principal, found: Campaign) -> list[str]:
    shown = []
    for action in allowed_actions(found):
        if not user.may(LIFECYCLE[action][0]):
            continue
        if action == "approve" and user.name == found.created_by:
            continue
        shown.append(action)
    return shown


@router.get("/campaigns/new")
def wizard(request: Request, user: User) -> Response:
    need(user, Role.OPERATOR)
    params = request.query_params
    form = WizardForm.from_values(params.get, params.getlist, _settings(request))
    try:
        step = min(5, max(1, int(params.get("step", "1"))))
    except ValueError:
        step = 1
    return _render_wizard(request, form, step)


class WizardForm:
    """What the wizard has collected so far, carried from step to step in the query string."""

    SCHEDULES = ("now", "once", "weekly")
    DAYS = (
        ("mon", "Thứ Hai"),
        ("tue", "Thứ Ba"),
        ("wed", "Thứ Tư"),
        ("thu", "Thứ Năm"),
        ("fri", "Thứ Sáu"),
        ("sat", "Thứ Bảy"),
        ("sun", "Chủ nhật"),
    )

    def __init__(self, settings: Settings, **values: Any) -> None:
        default_start, _, default_end = settings.campaign.window.partition("-")
        self.template: str = values.get("template", "")
        encoding = values.get("encoding", "")
        self.encoding: str = encoding if encoding in labels.POLICY else ""
        self.audiences: list[str] = values.get("audiences", [])
        self.districts: list[str] = values.get("districts", [])
        self.name: str = values.get("name", "")
        self.sender: str = values.get("sender", "") or settings.campaign.sender
        schedule = values.get("schedule", "")
        self.schedule: str = schedule if schedule in self.SCHEDULES else "now"
        self.run_at: str = values.get("run_at", "")
        self.days: list[str] = [d for d in values.get("days", []) if d in dict(self.DAYS)]
        self.time: str = values.get("time", "") or "08:00"
        self.active_from: str = values.get("active_from", "")
        self.active_until: str = values.get("active_until", "")
        self.window_start: str = values.get("window_start", "") or default_start
        self.window_end: str = values.get("window_end", "") or default_end

    FIELDS = (
        "template",
        "encoding",
        "name",
        "sender",
        "schedule",
        "run_at",
        "time",
        "active_from",
        "active_until",
        "window_start",
        "window_end",
    )
    LISTS = (("audiences", "audience"), ("districts", "district"), ("days", "day"))

    @classmethod
    def from_values(cls, get: Any, getlist: Any, settings: Settings) -> WizardForm:
        values = {name: (get(name) or "").strip() for name in cls.FIELDS}
        for attribute, key in cls.LISTS:
            values[attribute] = [v for v in getlist(key) if v]
        return cls(settings, **values)

    def pairs(self) -> list[tuple[str, str]]:
        pairs = [(name, str(getattr(self, name))) for name in self.FIELDS]
        for attribute, key in self.LISTS:
            pairs += [(key, v) for v in getattr(self, attribute)]
        return pairs

    def query(self, step: int) -> str:
        return urlencode([("step", str(step)), *self.pairs()])

    @property
    def window(self) -> str:
        return f"{self.window_start}-{self.window_end}"

    def plan(self, settings: Settings) -> campaigns.Schedule:
        """The schedule the form describes (a ScheduleError says what is wrong with it)."""
        if self.schedule == "once":
            if not self.run_at:
                msg = "Hãy chọn ngày giờ gửi, hoặc chọn “Gửi ngay khi được duyệt”."
                raise campaigns.ScheduleError(msg)
            return campaigns.Schedule(run_at=campaigns.parse_local_datetime(self.run_at, settings.zone))
        if self.schedule == "weekly":
            if not self.active_from or not self.active_until:
                msg = "Lịch lặp lại cần ngày bắt đầu và ngày kết thúc (ví dụ 01/07 đến 30/09)."
                raise campaigns.ScheduleError(msg)
            today = utcnow().astimezone(settings.zone).date()
            return campaigns.Schedule(
                cron=campaigns.weekly_cron(self.days, self.time),
                active_from=campaigns.parse_day(self.active_from, today),
                active_until=campaigns.parse_day(self.active_until, today),
            )
        return campaigns.Schedule()


def _districts(settings: Settings) -> list[Any]:
    return list(divisions.load().districts(settings.province.code))


def _wizard_problem(request: Request, form: WizardForm, step: int) -> tuple[int, str | None]:
    """The first step whose input is missing or wrong (and why), or (step, None)."""
    settings = _settings(request)
    if step >= 2:
        if not form.template:
            return 1, "Hãy chọn một mẫu tin nhắn."
        try:
            load_named(settings, form.template)
        except compose.TemplateError as exc:
            return 1, f"Không dùng được mẫu này: {exc}"
    if step >= 4 and not form.audiences:
        return 3, "Hãy chọn ít nhất một danh sách thuê bao."
    if step >= 5:
        if not form.name.strip():
            return 4, "Hãy đặt tên cho chiến dịch."
        if not re.fullmatch(r"\d{1,2}:\d{2}", form.window_start) or not re.fullmatch(r"\d{1,2}:\d{2}", form.window_end):
            return 4, "Khung giờ gửi cần giờ bắt đầu và giờ kết thúc (HH:MM)."
        if form.window_end.zfill(5) <= form.window_start.zfill(5):
            return 4, "Giờ kết thúc của khung giờ gửi phải sau giờ bắt đầu."
        if not 1 <= len(form.sender) <= 11:
            return 4, f"Tên thương hiệu (brandname) có 1 đến 11 ký tự; “{form.sender}” có {len(form.sender)} ký tự."
        try:
            schedule = form.plan(settings)
            campaigns.check_schedule(schedule, settings.zone, utcnow())
        except campaigns.ScheduleError as exc:
            return 4, f"Lịch gửi chưa đúng: {exc}"
    return step, None


def _render_wizard(
    request: Request, form: WizardForm, step: int, error: str | None = None, status_code: int = 200
) -> Response:
    settings = _settings(request)
    engine = _engine(request)
    if error is None:
        step, error = _wizard_problem(request, form, step)
    context: dict[str, Any] = {"form": form, "step": step, "error": error, "page": "campaigns"}
    context["templates"] = compose.list_templates(settings.templates_dir)
    if step == 1:
        contexts = compose.settings_contexts(settings)
        context["summaries"] = {
            t.name: compose.summarize(t, contexts, settings.campaign.encoding) for t in context["templates"]
        }
    if step >= 2:
        template = load_named(settings, form.template)
        context["template"] = template
        context["policy"] = compose.policy_for(template, settings, form.encoding or None)
    if step == 2:
        context["preview"] = template_preview(
            engine,
            settings,
            context["template"],
            encoding=form.encoding or None,
            campaign=form.name or context["template"].meta.title,
        )
    if step >= 3:
        context["audiences"] = queries.audiences(engine)
        context["districts"] = _districts(settings)
    if step == 5:
        context["schedule"] = form.plan(settings)
        context["district_names"] = {d.code: d.name for d in context["districts"]}
        context["preview"] = template_preview(
            engine,
            settings,
            context["template"],
            encoding=form.encoding or None,
            campaign=form.name,
            districts=form.districts or None,
            audiences=form.audiences,
        )
    return render(request, "wizard.html", context, status_code=status_code)


@router.post("/campaigns/new", dependencies=[Csrf])
async def create_campaign(request: Request, user: User) -> Response:
    need(user, Role.OPERATOR)
    data = await request.form()
    settings = _settings(request)
    form = WizardForm.from_values(
        lambda k: v if isinstance(v := data.get(k), str) else "",
        lambda k: [v for v in data.getlist(k) if isinstance(v, str)],
        settings,
    )
    return await run_in_threadpool(_create_campaign, request, user, form, bool(data.get("submit_now")))


def _create_campaign(request: Request, user: Principal, form: WizardForm, submit_now: bool) -> Response:
    settings = _settings(request)
    engine = _engine(request)
    step, error = _wizard_problem(request, form, 5)
    if error:
        return _render_wizard(request, form, step, error, status_code=422)
    all_districts = {d.code for d in _districts(settings)}
    chosen = tuple(d for d in form.districts if d in all_districts)
    schedule = form.plan(settings)
    try:
        created = campaigns.create_campaign(
            engine,
            settings,
            campaigns.NewCampaign(
                name=form.name.strip(),
                template=form.template,
                audiences=tuple(form.audiences),
                created_by=user.name,
                encoding=form.encoding or None,
                sender=form.sender,
                window=form.window,
                run_at=schedule.run_at,
                cron=schedule.cron,
                active_from=schedule.active_from,
                active_until=schedule.active_until,
                districts=chosen if chosen and set(chosen) != all_districts else None,
            ),
        )
        assert created.id is not None
        done = "create"
        if submit_now:
            campaigns.submit(engine, created.id, user.name)
            done = "create_submit"
    except campaigns.CampaignError as exc:
        return _render_wizard(request, form, 5, f"Chưa tạo được chiến dịch: {exc}", status_code=409)
    return _redirect(f"/campaigns/{created.id}?done={done}")


@router.get("/campaigns/{campaign_id}")
def campaign_page(request: Request, campaign_id: CampaignId, user: User, done: str = "") -> Response:
    engine = _engine(request)
    settings = _settings(request)
    found = _campaign(request, campaign_id)
    described = campaigns.describe(engine, settings, campaign_id)
    _, runs = queries.runs(engine, campaign_id=campaign_id, limit=100)
    dry = campaigns.dry_run(engine, settings, campaign_id)
    template = compose.parse_template(found.template_name, settings.workspace, found.template_text)
    codes = sorted({row.district_code for row in dry.rows if row.recipients}) or None
    texts = compose.preview(
        template,
        compose.settings_contexts(settings, campaign=found.name, districts=codes),
        found.encoding_policy,
        collapse=True,
    )
    return render(
        request,
        "campaign.html",
        {
            "campaign": found,
            "described": described,
            "runs": runs,
            "dry": dry,
            "totals": dry.totals,
            "texts": texts,
            "actions": _actions_for(user, found),
            "own": user.name == found.created_by,
            "done": labels.ACTION_DONE.get(done),
            "page": "campaigns",
        },
    )


@router.post("/campaigns/{campaign_id}/action", dependencies=[Csrf])
def campaign_action(
    request: Request, campaign_id: CampaignId, user: User, action: Annotated[str, Form()] = ""
) -> Response:
    if action not in LIFECYCLE:
        raise HTTPException(400, f"Thao tác “{action}” không có; hãy dùng các nút trên trang chiến dịch.")
    need(user, LIFECYCLE[action][0])
    _campaign(request, campaign_id)
    apply(_engine(request), _settings(request), campaign_id, action, user.name)
    return _redirect(f"/campaigns/{campaign_id}?done={action}")


@router.post("/campaigns/{campaign_id}/test-send", dependencies=[Csrf])
def campaign_test_send(
    request: Request, campaign_id: CampaignId, user: User, numbers: Annotated[str, Form()] = ""
) -> Response:
    need(user, Role.OPERATOR)
    found = _campaign(request, campaign_id)
    wanted = [n.strip() for n in re.split(r"[\n,;]+", numbers) if n.strip()]
    if not wanted or len(wanted) > 5:
        raise HTTPException(422, "Hãy nhập từ 1 đến 5 số điện thoại để gửi thử, mỗi số một dòng.")
    results = campaigns.send_test(_engine(request), _settings(request), campaign_id, wanted, user.name)
    return render(request, "test_send.html", {"campaign": found, "results": results, "page": "campaigns"})


# Audiences and opt-outs --------------------------------------------------------------------------


def _imports(request: Request) -> ImportJobs:
    imports: ImportJobs = request.app.state.imports
    return imports


@router.get("/audiences")
def audiences_page(request: Request, user: User) -> Response:
    return render(
        request,
        "audiences.html",
        {
            "audiences": queries.audiences(_engine(request)),
            "jobs": _imports(request).list()[:20],
            "province": _settings(request).province.code,
            "page": "audiences",
        },
    )


@router.post("/audiences/import", dependencies=[Csrf])
def start_import(
    request: Request,
    user: User,
    file: Annotated[UploadFile | None, File()] = None,
    name: Annotated[str, Form()] = "",
    province_code: Annotated[str, Form()] = "",
) -> Response:
    need(user, Role.OPERATOR)
    if file is None or not file.filename:
        raise HTTPException(422, "Chưa chọn tệp: hãy chọn tệp danh sách (CSV hoặc XLSX) rồi bấm “Nhập danh sách”.")
    if not name.strip():
        raise HTTPException(422, "Chưa đặt tên danh sách: hãy đặt tên (ví dụ “Thuê bao Tây Ninh 2024”) rồi nhập lại.")
    province = province_code.strip() or _settings(request).province.code
    job = _imports(request).submit(
        audience=name.strip(), province_code=province, filename=file.filename, source=file.file, actor=user.name
    )
    return _redirect(f"/audiences/imports/{job.id}")


def _job(request: Request, job_id: str) -> ImportJob:
    job = _imports(request).get(job_id)
    if job is None:
        raise HTTPException(404, "Không còn thông tin về lần nhập này (máy chủ đã khởi động lại hoặc mã sai).")
    return job


@router.get("/audiences/imports/{job_id}.json")
def import_json(request: Request, job_id: str, user: User) -> JSONResponse:
    job = _job(request, job_id)
    return JSONResponse(
        {
            "id": job.id,
            "status": job.status,
            "status_label": labels.JOB_STATUS[job.status],
            "rows": job.rows,
            "finished": job.finished,
        }
    )


@router.get("/audiences/imports/{job_id}")
def import_page(request: Request, job_id: str, user: User) -> Response:
    return render(request, "import.html", {"job": _job(request, job_id), "page": "audiences"})


@router.get("/audiences/imports/{job_id}/rejects.csv")
def import_rejects(request: Request, job_id: str, user: User) -> Response:
    need(user, Role.OPERATOR)
    job = _job(request, job_id)
    if not job.has_rejects:
        raise HTTPException(404, "Lần nhập này không có dòng bị loại (hoặc chưa nhập xong).")
    from fastapi.responses import FileResponse

    stem = job.filename.rsplit(".", 1)[0]
    return FileResponse(job.rejects_path, media_type="text/csv; charset=utf-8", filename=f"{stem}-dong-bi-loai.csv")


@router.get("/optouts")
def optouts_page(request: Request, user: User, added: str = "") -> Response:
    total, items = queries.optouts(_engine(request), limit=20)
    return render(request, "optouts.html", {"total": total, "items": items, "added": added, "page": "optouts"})


@router.post("/optouts", dependencies=[Csrf])
def add_optouts(request: Request, user: User, numbers: Annotated[str, Form()] = "") -> Response:
    need(user, Role.OPERATOR)
    from broadcaster import optouts

    wanted = [n.strip() for n in re.split(r"[\n,;]+", numbers) if n.strip()]
    if not wanted:
        raise HTTPException(422, "Chưa có số nào: hãy nhập số điện thoại, mỗi số một dòng.")
    summary = optouts.add(_engine(request), enumerate(wanted, start=1), f"console:{user.name}")
    audit.write(
        _engine(request), user.name, "optout.add", "optout", "-", after={"added": summary.added, "rows": summary.rows}
    )
    return render(
        request,
        "optouts.html",
        {
            "total": queries.optouts(_engine(request), limit=1)[0],
            "items": queries.optouts(_engine(request), limit=20)[1],
            "summary": summary,
            "page": "optouts",
        },
    )


# Reports -----------------------------------------------------------------------------------------


@router.get("/reports")
def reports_page(request: Request, user: User) -> Response:
    _, items = queries.campaigns(_engine(request), limit=200)
    return render(request, "reports.html", {"campaigns": items, "page": "reports"})


@router.get("/reports/{campaign_id}")
def report_page(
    request: Request, campaign_id: CampaignId, user: User, run: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> Response:
    found = _campaign(request, campaign_id)
    built = build_report(_engine(request), _settings(request), campaign_id, run)
    _, runs = queries.runs(_engine(request), campaign_id=campaign_id, limit=100)
    return render(
        request,
        "report.html",
        {
            "campaign": found,
            "report": built,
            "by_district": built.districts,
            "by_carrier": built.carriers,
            "formats": FORMATS,
            "runs": runs,
            "run": run,
            "chart_statuses": ("delivered", "failed", "expired", "skipped", "cancelled", "pending"),
            "page": "reports",
        },
    )


@router.get("/reports/{campaign_id}/download/{fmt}")
def report_download(
    request: Request,
    campaign_id: CampaignId,
    fmt: str,
    user: User,
    run: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    if fmt not in FORMATS:
        raise HTTPException(404, f"Không có định dạng báo cáo “{fmt}”; hãy chọn: {', '.join(FORMATS)}.")
    _campaign(request, campaign_id)
    content, media_type, name = render_report(_engine(request), _settings(request), campaign_id, run, fmt)
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# Audit -------------------------------------------------------------------------------------------


@router.get("/audit")
def audit_page(
    request: Request,
    user: User,
    actor: str = "",
    object_type: str = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=100000)] = 1,
) -> Response:
    need(user, Role.ADMIN)
    size = 50
    found = audit.events(
        _engine(request), limit=size, offset=(page_no - 1) * size, actor=actor or None, object_type=object_type or None
    )
    pages = max(1, -(-found.total // size))
    return render(
        request,
        "audit.html",
        {
            "events": found.events,
            "total": found.total,
            "page_no": page_no,
            "pages": pages,
            "actor": actor,
            "object_type": object_type,
            "page": "audit",
        },
    )
