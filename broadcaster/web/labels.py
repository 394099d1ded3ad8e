"""Vietnamese labels for the console: statuses, roles, actions, encodings, and error pages."""

from __future__ import annotations

CAMPAIGN_STATUS = {
    "draft": "Bản nháp",
    "awaiting_approval": "Chờ duyệt",
    "approved": "Đã duyệt",
    "active": "Đang chạy",
    "paused": "Tạm dừng",
    "completed": "Hoàn thành",
    "cancelled": "Đã huỷ",
}
RUN_STATUS = {
    "planning": "Đang lập danh sách",
    "sending": "Đang gửi",
    "paused": "Tạm dừng",
    "completed": "Hoàn thành",
    "cancelled": "Đã huỷ",
    "missed": "Bị lỡ lịch",
}
MESSAGE_STATUS = {
    "queued": "Chờ gửi",
    "sending": "Đang gửi",
    "sent": "Đã gửi, chờ báo nhận",
    "delivered": "Đã nhận",
    "failed": "Không thành công",
    "expired": "Hết hạn",
    "skipped": "Bỏ qua",
    "cancelled": "Đã huỷ",
}
SHORT_STATUS = {
    "queued": "Chờ gửi",
    "sending": "Đang gửi",
    "sent": "Chờ báo nhận",
    "delivered": "Đã nhận",
    "failed": "Lỗi",
    "expired": "Hết hạn",
    "skipped": "Bỏ qua",
    "cancelled": "Huỷ",
}
SKIP_REASON = {"duplicate": "Trùng số", "opted_out": "Từ chối nhận tin", "outside_area": "Ngoài địa bàn"}
ROLE = {"viewer": "Người xem", "operator": "Cán bộ vận hành", "approver": "Người duyệt", "admin": "Quản trị viên"}
ACTION = {
    "submit": "Gửi duyệt",
    "approve": "Duyệt",
    "pause": "Tạm dừng",
    "resume": "Tiếp tục gửi",
    "cancel": "Huỷ chiến dịch",
}
ACTION_DONE = {
    "submit": "Đã gửi chiến dịch đi duyệt.",
    "approve": "Đã duyệt chiến dịch.",
    "pause": "Đã tạm dừng chiến dịch.",
    "resume": "Đã cho chiến dịch gửi tiếp.",
    "cancel": "Đã huỷ chiến dịch.",
    "create": "Đã tạo chiến dịch (bản nháp).",
    "create_submit": "Đã tạo chiến dịch và gửi đi duyệt.",
}
ENCODING = {"gsm7": "Không dấu (GSM-7)", "ucs2": "Có dấu (Unicode)"}
POLICY = {
    "auto": "Tự động: bỏ dấu khi tiết kiệm được tin",
    "unicode": "Luôn giữ dấu tiếng Việt",
    "ascii": "Luôn bỏ dấu",
}
JOB_STATUS = {"queued": "Đang chờ", "running": "Đang nhập", "done": "Hoàn tất", "failed": "Không nhập được"}
AUDIT_ACTION = {
    "campaign.create": "Tạo chiến dịch",
    "campaign.submit": "Gửi duyệt",
    "campaign.approve": "Duyệt",
    "campaign.activate": "Bắt đầu chạy",
    "campaign.complete": "Hoàn thành",
    "campaign.pause": "Tạm dừng",
    "campaign.resume": "Tiếp tục",
    "campaign.cancel": "Huỷ",
    "campaign.test_send": "Gửi thử",
    "audience.import": "Nhập danh sách",
    "optout.add": "Thêm số từ chối",
    "optout.import": "Nhập tệp số từ chối",
    "token.create": "Tạo mã truy cập",
    "token.revoke": "Thu hồi mã truy cập",
    "campaign.edit": "Sửa chiến dịch",
    "campaign.rerun": "Gửi lại",
    "run.fired": "Bắt đầu đợt gửi",
    "run.missed": "Đợt gửi bị lỡ",
    "run.paused": "Tạm dừng đợt gửi",
    "run.cancelled": "Huỷ đợt gửi",
}
OBJECT_TYPE = {
    "campaign": "chiến dịch",
    "run": "đợt gửi",
    "audience": "danh sách",
    "optout": "số từ chối",
    "token": "mã truy cập",
}
REJECT_REASON = {
    "empty": "Ô số điện thoại trống",
    "not_a_number": "Không phải số điện thoại",
    "too_short": "Số thiếu chữ số",
    "too_long": "Số thừa chữ số",
    "landline": "Số máy bàn",
    "not_vietnamese": "Không phải số Việt Nam",
    "unknown_prefix": "Đầu số không thuộc nhà mạng di động nào",
    "missing_district": "Thiếu quận/huyện",
    "unknown_district": "Quận/huyện không có trong tỉnh",
}

ERROR_PAGES: dict[int, tuple[str, str]] = {
    400: ("Yêu cầu không hợp lệ", "Hãy quay lại trang trước và thử lại."),
    403: (
        "Bạn không có quyền làm việc này",
        "Hãy nhờ người có vai trò phù hợp thực hiện, hoặc đăng nhập bằng mã truy cập khác.",
    ),
    404: (
        "Không tìm thấy trang hoặc mục này",
        "Địa chỉ không đúng hoặc mục đã bị xoá. Hãy quay lại và chọn từ danh sách.",
    ),
    405: ("Thao tác không được hỗ trợ ở địa chỉ này", "Hãy dùng các nút trên giao diện thay vì gõ địa chỉ trực tiếp."),
    409: (
        "Không thực hiện được thao tác",
        "Trạng thái hiện tại không cho phép thao tác này. Hãy tải lại trang để xem trạng thái mới nhất.",
    ),
    413: ("Tệp quá lớn", "Hãy chia tệp thành nhiều phần nhỏ hơn rồi nhập từng phần."),
    422: ("Dữ liệu chưa hợp lệ", "Hãy kiểm tra lại các ô đã nhập (xem chi tiết bên dưới) rồi gửi lại."),
    500: (
        "Đã xảy ra lỗi ngoài dự kiến",
        "Thao tác có thể chưa hoàn tất. Hãy thử lại sau ít phút; nếu vẫn lỗi, "
        "báo cho quản trị viên kèm mã lỗi bên dưới.",
    ),
}

ERROR_HINTS: dict[str, str] = {
    "TemplateError": "Mẫu tin nhắn có lỗi: hãy sửa tệp mẫu trong thư mục templates/ hoặc chọn mẫu khác.",
    "AudienceFileError": "Hãy kiểm tra tệp (CSV hoặc XLSX, có cột số điện thoại và cột quận/huyện) rồi tải lên lại.",
    "ReadError": "Hãy kiểm tra tệp (CSV hoặc XLSX, có cột số điện thoại và cột quận/huyện) rồi tải lên lại.",
    "UploadTooLarge": "Hãy chia tệp thành nhiều phần nhỏ hơn rồi nhập từng phần.",
    "UploadError": "Hãy chọn lại tệp danh sách (CSV hoặc XLSX) rồi tải lên lại.",
    "ConfigError": "Cấu hình máy chủ chưa đúng: hãy báo quản trị viên kiểm tra tệp broadcaster.toml "
    "và biến môi trường.",
    "UnknownAdapter": "Cấu hình tuyến gửi chưa đúng: hãy báo quản trị viên kiểm tra tệp broadcaster.toml.",
    "CampaignError": "Trạng thái hoặc thông tin chiến dịch không cho phép thao tác này. Người tạo chiến dịch không "
    "được tự duyệt; hãy tải lại trang để xem trạng thái mới nhất.",
    "ReportError": "Chưa lập được báo cáo cho chiến dịch hoặc đợt gửi này; hãy chọn lại từ danh sách báo cáo.",
    "RequestError": "Hãy chọn lại từ danh sách trên giao diện.",
}

FIELD_ERRORS = {
    "missing": "chưa điền",
    "string_too_short": "chưa điền",
    "string_too_long": "quá dài",
    "string_pattern_mismatch": "sai định dạng",
    "int_parsing": "phải là số",
    "datetime_from_date_parsing": "sai ngày giờ",
}
