"""Errors carry an English message (logs) and a template with values (the screen): gateway.user_error and
gateway.i18n.render, across the gateway's, the drivers' and the vision code's errors."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from drivers.support.base import DriverError
from drivers.support.messages import N_, Message
from gateway.i18n import render
from gateway.identity import IdentityError
from gateway.profile import ProfileError
from gateway.replay.data import ReplayDataError
from gateway.update.errors import UpdateError
from gateway.user_error import UserError
from inference.errors import ModelError


def test_profile_error_keeps_file_key_and_english_expected():
    err = ProfileError("/etc/edgeproof/site.toml", "devices[0].name", N_("a unique device name ({name} is used twice)"),
                       name="'m1'")
    assert str(err) == "/etc/edgeproof/site.toml: devices[0].name: a unique device name ('m1' is used twice)"
    assert err.expected == "a unique device name ('m1' is used twice)"  # what existing callers and logs read
    zh = render(err, "zh-CN")
    assert zh == "/etc/edgeproof/site.toml：devices[0].name：唯一的设备名称（'m1' 用了两次）"
    assert render(err, "en") == str(err)


def test_nested_errors_render_all_the_way_down():
    inner = IdentityError(N_("no key at {path}: run `edgeproof init` first"), path="/var/lib/edgeproof/gateway.key")
    outer = UpdateError(N_("{root}: the version to return to ({previous}) is not a finished install"),
                        root="/opt/edgeproof", previous=inner)
    assert "no key at /var/lib/edgeproof/gateway.key" in str(outer)
    assert render(outer, "zh-CN") == ("/opt/edgeproof：要回退到的版本（/var/lib/edgeproof/gateway.key 处没有密钥："
                                      "请先运行 `edgeproof init`）没有完整安装")


def test_driver_and_vision_errors_render_through_the_gateway():
    err = DriverError("io", N_("cannot open serial port {port}"), port="'/dev/ttyUSB0'")
    assert str(err) == "io: cannot open serial port '/dev/ttyUSB0'" and err.message.startswith("cannot open")
    assert render(err, "zh-CN") == "读写错误：无法打开串口 '/dev/ttyUSB0'"
    model = ModelError("/opt/models/x.tflite", N_("model file not found"))
    assert str(model) == "/opt/models/x.tflite: model file not found"
    assert render(model, "zh-CN") == "/opt/models/x.tflite：找不到模型文件"


def test_a_drivers_load_time_check_becomes_the_profiles_expectation():
    err = ProfileError("p.toml", "devices.m.unit_id", Message(N_("a unit id 1..247 (0 is broadcast, which never "
                                                                 "answers)")))
    assert err.expected == "a unit id 1..247 (0 is broadcast, which never answers)"
    assert render(err, "zh-CN") == "p.toml：devices.m.unit_id：从站地址 1..247（0 为广播地址，从不应答）"


def test_replay_data_error_names_file_line_column():
    err = ReplayDataError("d/press.csv", 3, "power_total", N_("not a number: {cell}"), cell="'n/a'")
    assert str(err) == "d/press.csv:3: column 'power_total': not a number: 'n/a'"
    assert render(err, "zh-CN") == "d/press.csv:3：列 'power_total'：不是数字：'n/a'"


def test_untranslated_or_foreign_errors_fall_back_to_their_text():
    assert render(OSError(2, "No such file or directory"), "zh-CN") == "[Errno 2] No such file or directory"
    # A message that is not a template (braces of its own) still says something, in both languages.
    odd = UserError("a table like {a = 1} is not allowed")
    assert str(odd) == "a table like {a = 1} is not allowed" and render(odd, "zh-CN") == str(odd)


_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " .:-'/{}", max_size=30)


@given(st.dictionaries(st.sampled_from(["file", "path", "error", "value", "name"]), _TEXT, max_size=4))
def test_english_render_is_str_whatever_the_values(params):
    template = " / ".join("{" + k + "}" for k in sorted(params)) or "nothing"
    err = UserError(template, **params)
    assert str(err) == template.format(**params)
    assert render(err, "en") == str(err)
    assert isinstance(render(err, "zh-CN"), str)
