"""What went wrong with a delivery, in plain words (the raw error stays in the row for logs)."""

from __future__ import annotations

from flask_babel import gettext


def delivery_problem(error: str) -> str:
    """A failed attempt's error (`HTTP 503`, `ConnectionError: …`) said for people: what
    happened at the receiver, never a Python exception's name or text."""
    if error.startswith("HTTP "):
        code = error[5:8]
        if code.startswith("5"):
            return str(gettext("对方系统出错（代码 %(code)s），稍后会自动重试", code=code))
        if code in ("401", "403"):
            return str(gettext("对方拒绝接收（代码 %(code)s）：请核对接收地址和授权", code=code))
        if code == "404":
            return str(gettext("对方的接收地址不存在（代码 404）：请核对地址"))
        return str(gettext("对方未接受（代码 %(code)s）", code=code))
    name = error.partition(":")[0]
    if "Timeout" in name:
        return str(gettext("对方在规定时间内没有应答"))
    if "SSL" in name:
        return str(gettext("与对方的加密连接未能建立（证书问题）"))
    if "Connection" in name:
        return str(gettext("连不上对方的接收地址（对方服务器未开或网络不通）"))
    if "InvalidURL" in name or "MissingSchema" in name or "InvalidSchema" in name:
        return str(gettext("接收地址写错了：请核对地址"))
    return str(gettext("送达时出现问题"))
