"""Every piece of text a reader sees, in one place: Chinese, and English through bot/locale/.

Chinese is the source language: each text constant below is its own gettext msgid, used as is for
Chinese (the default). Every str constant, and every value of a dict constant, is extracted into
the catalogues by `python -m bot.locale` (bot/locale/catalogs.py), except the names in
CHINESE_ONLY. A reader whose Telegram `language_code` starts with "en" gets the English msgstr of
bot/locale/en/LC_MESSAGES/ai-news-bot.po: a handler asks `bot.locale.translator(language_code)`
and translates each constant with it (`tr(texts.BAD_DAY)`, then `.format(...)`); code with no
reader to ask (alerts, the channel message) uses the constants as they are.

Adding a text: add the constant here, run `python -m bot.locale`, write its English msgstr in the
.po file, run `python -m bot.locale` again (it compiles the .mo); tests/test_locale.py checks both.
"""

from __future__ import annotations

# Texts only Chinese readers ever see, so not in the catalogues: the channel's message (the blog is
# Chinese; /today and inline mode send readers that same message) and what the admins are told
# without asking (scheduled alerts, buttons under them, events recorded for /status).
CHINESE_ONLY = (
    "READ_MORE",
    "MORE_BULLETS",
    "ALERT_NO_POST",
    "ALERT_LATE",
    "ALERT_MIGRATED",
    "ALERT_PIN_FAILED",
    "MEMBERSHIP_CHANGED",
    "CHANNEL_LOST",
    "ALERT_SEND_FAILED",
    "ALERT_DATABASE_REPLACED",
    "ALERT_GIT_PULL",
    "ALERT_FOLDER",
    "ALERT_UNKNOWN",
    "RESENDING",
    "HELD",
    "HELD_PUBLISH_BUTTON",
    "HELD_SKIP_BUTTON",
    "ALERT_FILE_GONE",
    "DELETE_BUTTON",
    "ALERT_FILE_BROKEN",
    "FILE_NOT_THE_DAYS_POST",
    "ALERT_POLL_CONFLICT",
    "SUBSCRIBE_BUTTON",
)

READ_MORE = "阅读全文"
# Shown when a message has no room for every summary bullet; n is how many were left out.
MORE_BULLETS = "…还有 {n} 条要点，见全文"

# -- /tag and /search: paged lists (bot/pages.py) -----------------------------------------------
# Plain text: the renderer escapes it and adds the markup. {n} is always a number.

PREV_PAGE = "◀ 上一页"
NEXT_PAGE = "下一页 ▶"
# The button between ◀ and ▶; pressing it does nothing (callback data pages.NOOP).
PAGE_OF = "第 {page}/{pages} 页"

TAG_LIST_HEADING = "🏷 全部标签（{n} 个），点按查看文章："
# One button per tag in the tag list: the label and how many posts carry it.
TAG_BUTTON = "{label} ({count})"
NO_TAGS = "还没有任何标签。"
ALL_TAGS_BUTTON = "🏷 全部标签"
TAG_HEADING = "🏷 {tag}：共 {n} 篇"
# A tag button pressed after the posts under it were removed.
TAG_EMPTY = "标签「{tag}」下暂时没有文章。"
NO_SUCH_TAG = "没有找到标签「{tag}」。"
TAG_SUGGESTIONS = "你是不是要找："
TAG_LIST_HINT = "发送 /tag 查看全部标签。"

# A total the search stopped counting at, e.g. "1000+".
AT_LEAST = "{n}+"
SEARCH_HEADING = "🔍 “{query}”：找到 {n} 篇"
SEARCH_NOTHING = "没有找到与“{query}”相关的文章。换个关键词，或者少用几个词试试。"
# Under SEARCH_NOTHING, with a button for each: the topic names and post titles closest to the query
# (bot/suggest.py), joined by SUGGESTION_SEPARATOR.
SEARCH_SUGGESTIONS = "你是不是要找：{suggestions}"
# Under the heading when a word named a company that has other names (bot/synonyms.py): {term} as
# typed, {names} the names also searched, joined by SUGGESTION_SEPARATOR.
SEARCH_WIDENED = "（{term}，也搜了 {names}）"
SUGGESTION_SEPARATOR = "、"
# A page button pressed after the posts changed and the results no longer reach that page.
SEARCH_PAGE_GONE = "这一页已经没有结果了，请返回前一页。"
SEARCH_USAGE = (
    "用法：/search 关键词\n"
    "• 多个关键词用空格分开，文章要包含全部关键词\n"
    '• 用引号把短语括起来："Claude Code"\n'
    "• 在词前加 - 排除：-融资\n"
    "例如：/search OpenAI 芯片"
)

# -- commands (bot/handlers.py) -----------------------------------------------------------------
# Plain text: handlers escape it before it goes out as HTML.

# {site}: the blog's address ([posts] site_url); {bot}: the bot's @username, for inline mode.
HELP = (
    "👋 这里是 AI 日报机器人：每天早上把 {site} 的《AI 日报》发到频道，也可以随时查阅往期。\n\n"
    "/today — 今天的日报（或指定日期：/today 2026-11-28）\n"
    "/tag — 按标签浏览；/tag 标签 — 该标签下的文章\n"
    "/search 关键词 — 搜索标题、摘要和正文\n"
    "/subscribe — 每天把日报发到这里；/subscribe OpenAI 英伟达 — 只要提到它们的那天\n"
    "/subscriptions — 订阅设置；/unsubscribe — 取消订阅\n"
    "/help — 显示这条说明\n\n"
    "在任何聊天的输入框里打 @{bot} 加关键词，也能搜索并直接发出日报。"
)
ADMIN_HELP = (
    "\n\n管理员命令：\n"
    "/publish [日期] — 立即把那天的日报发到频道（已经发过就只回复链接）\n"
    "/publish 日期 force — 明知已发过，仍然再发一次\n"
    "/preview [日期] — 私信预览频道里会看到的消息\n"
    "/status — 发布记录、下次发送时间和最近的错误"
)
# The bot menu (setMyCommands): command -> description, readers first, then admins only.
READER_COMMANDS = {
    "today": "今天的日报",
    "tag": "按标签浏览",
    "search": "搜索往期日报",
    "subscribe": "订阅每天的日报",
    "subscriptions": "订阅设置",
    "unsubscribe": "取消订阅",
    "help": "使用说明",
}
ADMIN_COMMANDS = {
    "publish": "立即发布到频道",
    "preview": "私信预览频道消息",
    "status": "发布状态",
}
BAD_DAY = "日期格式不对，请用 YYYY-MM-DD，例如 /today 2026-11-28。"
NO_POSTS = "还没有任何日报。"
NO_POST_FOR_DAY = "{day} 没有日报。"
TODAY_NOT_YET = "今天（{today}）的日报还没有发布，先看看最新一期（{day}）："
NOT_ADMIN = "抱歉，这个命令只有管理员可以使用。"
BUTTON_EXPIRED = "这个按钮已经失效了，请重新发送命令。"
# A reader over their budget of commands (bot/limits.py); sent once, then they are not answered.
SLOW_DOWN = "查询太频繁了，请 {seconds} 秒后再试。"
SOMETHING_WRONG = "出了点问题，请稍后再试。"

# -- admin replies and alerts --------------------------------------------------------------------
# {detail} is the error as Telegram or the bot words it (often English); {link} a t.me link.

PUBLISH_SENT = "✅ 已发布 {day}：{link}"
PUBLISH_ALREADY = "ℹ️ {day} 已经发布过了：{link}\n确实要再发一次，请用 /publish {day} force"
PUBLISH_BUSY = "⏳ {day} 正在发送中，请稍后用 /status 查看。"
PUBLISH_RETRY = "⏳ {day} 这次没有发出去（{detail}），稍后会自动重试。"
PUBLISH_FAILED = "❌ {day} 发送失败（{detail}）。修复后可以用 /publish {day} force 重新发送。"
PUBLISH_UNKNOWN = (
    "❓ {day} 发送结果不明（{detail}）。请先看看频道里有没有这条消息，没有的话用 /publish {day} force。"
)
PUBLISH_SKIPPED = "⏭ {day} 没有发布，这一天已经关闭（{detail}）。确实要发，请用 /publish {day}。"
PUBLISH_NO_POST = "{day} 没有可以发布的日报。"
PUBLISH_USAGE = "用法：/publish [YYYY-MM-DD] [force]"
PREVIEW_SENT = "预览已经私信发给你了。"
PREVIEW_BLOCKED = "我没法私信你：请先私聊我发送 /start，再试一次。"
STATUS = (
    "📊 状态\n"
    "上次发布：{last}\n"
    "今天（{today}）：{today_state}\n"
    "下次定时发送：{next_run}\n"
    "文章：{posts} 篇（日报 {daily} 篇），有错误的文件 {errors} 个\n"
    "最近的问题：{event}"
)
STATUS_NONE = "无"
STATUS_TODAY = {
    "sent": "已发布",
    "claimed": "发送中",
    "retryable": "等待重试",
    "failed": "失败",
    "unknown": "结果不明",
    "skipped": "已跳过",
    "none": "还没发送",
}
ALERT_NO_POST = (
    "⚠️ {day} 的日报到 {end} 还没有出现，今天不会自动发送。文件到了以后可以用 /publish {day} 手动发送。"
)
ALERT_LATE = (
    "⚠️ {day} 的日报在 {end} 前没有发出（机器人没有运行，或一直发送失败），今天不再自动发送。"
    "确认频道后可以用 /publish {day} 手动发送。"
)
ALERT_MIGRATED = (
    "ℹ️ 群组 {old} 已升级为超级群组，新 ID 是 {new}。"
    "日报已发到新群组；请把配置里的 [channel] chat 改成 {new}。"
)
ALERT_PIN_FAILED = (
    "📌 {day} 的日报已发布，但没能置顶（{error}）。请给机器人置顶消息的权限，或者关掉 [channel] pin。"
)
# The bot's membership of a group or channel changed (my_chat_member); {chat} names it, {by} who did it.
MEMBERSHIP_CHANGED = "ℹ️ 机器人在 {chat} 的身份变了：{old} → {new}（操作者 {by}）。"
CHANNEL_LOST = (
    "⚠️ 机器人在日报频道 {chat} 里已经是 {new}（操作者 {by}），日报发不出去了。"
    "请把机器人加回频道并给它发消息的权限。"
)
ALERT_SEND_FAILED = "⚠️ 日报没有发出去：{detail}"
# The database file was deleted or replaced under the running bot; {detail} names the file.
ALERT_DATABASE_REPLACED = (
    "🛑 数据库文件在机器人运行时被删除或替换了，暂停发布以免重复发送：{detail}。请重启 ai-news-bot。"
)
ALERT_GIT_PULL = "📂 更新文章目录 {folder} 时 git pull 失败（{detail}），先用已有的文件。今天不再重复提醒。"
ALERT_FOLDER = "📂 日报还发不出去：文章目录 {folder} 有问题（{problem}）。修好后 {end} 前会自动发送。"
ALERT_UNKNOWN = (
    "❓ {day} 的日报发送结果不明（{error}）。请先看看频道里有没有，没有的话用 /publish {day} force。"
)
# An event in /status when on_ambiguous = "resend" sends again after an unknown outcome.
RESENDING = "发送结果不明，按 on_ambiguous = resend 稍后重发（频道里可能出现两条）"

# -- inline mode and the /tag fallback (bot/handlers.py) -----------------------------------------
# Plain text: handlers escape it (the note) or send it as a plain field (the description).

# Under each inline result's title: the post's date and its first summary bullet.
INLINE_DESCRIPTION = "📅 {day} · {summary}"
INLINE_DESCRIPTION_DAY = "📅 {day}"  # a post without summary bullets
# Above the search results shown for a /tag that no post carries.
TAG_SEARCH_INSTEAD = "没有标签「{tag}」，以下是搜索结果："

# -- the quality gate (bot/quality.py, bot/schedule.py) -------------------------------------------
# {reasons} are the gate's findings, in English (they name what was measured).

HELD = "⏸ {day} 的日报（{name}）看起来有问题，没有自动发布：{reasons}\n上面是频道里会看到的样子。要发布吗？"
HELD_PUBLISH_BUTTON = "发布"
HELD_SKIP_BUTTON = "跳过"
HELD_SKIPPED = "已跳过 {day}，今天不会自动发布。"

# -- a published post's file deleted (bot/schedule.py, the button in bot/handlers.py) ------------
ALERT_FILE_GONE = (
    "🗑 {day} 的日报文件 {name} 已经从文章目录里删除了，频道里的消息还在：{link}\n"
    "如果这篇不该发出去，点下面的按钮删除频道消息；如果文件只是暂时移走，不用理会。"
)
DELETE_BUTTON = "删除频道消息"
# The published post's file is still there but no longer that day's post; {why} says what is wrong.
ALERT_FILE_BROKEN = (
    "⚠️ {day} 已发布的日报文件 {name} 现在读不出来或不再是那天的日报：{why}\n"
    "频道里的消息保持不变；修好文件后会自动同步修改。"
)
FILE_NOT_THE_DAYS_POST = "它的 date 或 category 已经改了"
DELETED = "已删除 {day} 在频道里的消息。"
DELETE_NOTHING = "{day} 在频道里没有可删除的消息了。"
DELETE_REFUSED = "Telegram 没有删除 {day} 的消息（{error}）。超过 48 小时的消息只能在频道里手动删除。"

# -- subscriptions (bot/handlers.py, bot/broadcast.py) -------------------------------------------
# Plain text: escaped before it goes out. {topics} is a list of topic names joined by "、".

SUBSCRIBE_BUTTON = "🔔 订阅"  # under the channel message: opens the bot with the subscribe flow
# Above a topic subscriber's copy, followed by the headlines that name their topics.
TOPIC_NOTE = "🔔 今天的日报提到了你关注的话题："
SUBSCRIBED_ALL = "✅ 已订阅：每天频道发布日报后，也会发到这里。"
SUBSCRIBED_TOPICS = "✅ 已订阅 {topics}：日报提到它们的那天会发到这里，并列出相关的标题。"
UNSUBSCRIBED = "已取消订阅，不会再发日报到这里。随时可以用 /subscribe 重新订阅。"
NOT_SUBSCRIBED = "这里还没有订阅。发送 /subscribe 订阅每天的日报。"
UNKNOWN_TOPICS = "没有这个话题：{words}。"
TOPIC_SUGGESTIONS = "你是不是要找：{names}"
TOPIC_CHOICES = "可以订阅的话题：{names}"
SUBSCRIBE_GROUP_REFUSED = "抱歉，只有这个群的管理员可以为群订阅日报。"
SUBSCRIBE_CHANNEL_REFUSED = "频道里不能订阅；请在私聊或群组里发送 /subscribe。"
SUBSCRIPTION_ALL = "🔔 订阅：每天的日报"
SUBSCRIPTION_TOPICS = "🔔 订阅：只发提到 {topics} 的日报"
SUBSCRIPTION_PAUSED = "⏸ 订阅已暂停（{note}）。发送 /subscribe 恢复。"
SUBSCRIPTION_NONE = "🔕 还没有订阅。"
SUBSCRIPTION_HINT = "点按话题只接收提到它们的日报；一个都不选就是每天都发。"
ALL_DAYS_BUTTON = "每天都发"
SUBSCRIBE_NOW_BUTTON = "🔔 订阅"
UNSUBSCRIBE_BUTTON = "🔕 取消订阅"
# Under /tag and /search answers: a t.me link that opens the same list in the bot.
SHARE_BUTTON = "🔗 分享这个列表"
# /status: the day's broadcast to subscribers.
STATUS_BROADCAST = (
    "订阅推送：已发 {sent}，待发 {pending}，失败 {failed}，结果不明 {unknown}；"
    "订阅 {active} 个，暂停 {paused} 个"
)

# -- polling (bot/app.py) --------------------------------------------------------------------------
# Sent once per incident, not on every poll (docs/reliability.md, case 6); {detail} is Telegram's 409 text.
ALERT_POLL_CONFLICT = (
    "⚠️ 另一个程序正在用同一个机器人 token 接收消息（Telegram 返回 409：{detail}）。"
    "两边会轮流抢消息，命令可能收不到。请只保留一个 ai-news-bot run，或者先删除 webhook。"
    "共用同一个数据库时日报仍只发一次；数据库不同的话，频道可能收到两条。"
)
