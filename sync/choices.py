"""The sub-choices every community starts with: what is wrong, per category (editable later).

The server seeds them for each community; the kiosk holds checked pinyin for each default name
(kiosk/voice.py), so a default is spoken while a community's own wording is shown only.
"""

from __future__ import annotations

MAX_CHOICES = 6
"""Active sub-choices a category may offer (then 其他): what fits one row of large tiles."""

DEFAULT_CHOICES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "electrical": (
        ("light_out", "灯不亮", "A light is out"),
        ("socket_switch", "插座/开关", "Socket or switch"),
        ("power_trip", "跳闸停电", "Tripped, no power"),
        ("old_wiring", "电线老化", "Old wiring"),
    ),
    "plumbing": (
        ("leak", "漏水", "A leak"),
        ("blocked", "下水堵了", "Drain blocked"),
        ("no_water", "没有水", "No water"),
        ("heating_cold", "暖气不热", "Heating is cold"),
        ("tap_toilet", "水龙头/马桶", "Tap or toilet"),
    ),
    "appliance": (
        ("tv", "电视", "Television"),
        ("fridge", "冰箱", "Fridge"),
        ("washer", "洗衣机", "Washing machine"),
        ("stove", "炉灶", "Stove"),
        ("water_heater", "热水器", "Water heater"),
    ),
    "health": (
        ("blood_pressure", "量血压", "Blood pressure"),
        ("medicine", "买药取药", "Medicine"),
        ("doctor_visit", "陪同就医", "Go to the doctor"),
        ("unwell", "身体不舒服", "Feeling unwell"),
    ),
    "meals": (
        ("lunch", "午餐", "Lunch"),
        ("dinner", "晚餐", "Dinner"),
        ("delivery", "送餐上门", "Meals brought home"),
    ),
    "company": (
        ("chat", "聊聊天", "A chat"),
        ("walk", "陪我散步", "A walk together"),
        ("phone_call", "打电话问候", "A phone call"),
    ),
    "errands": (
        ("shopping", "买菜购物", "Shopping"),
        ("bills", "缴费", "Paying bills"),
        ("fetch", "取送东西", "Fetch or deliver"),
    ),
}
"""(code, Chinese, English) per category code; emergency and other have none (no delay)."""
