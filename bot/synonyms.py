"""Search synonyms: the names that stand for one company, in English, 简体 and 繁體.

A reader searching for 英伟达 wants the posts that say Nvidia too, and one who types 輝達 (the
name Taiwan's press uses) wants them all. `DEFAULT_SYNONYMS` lists the companies the blog's posts
name most, each with every name that stands for it; `[search] synonyms` in the config file
replaces it (bot/config.py).

How the table was chosen, on the blog's 297 posts (2025-12 to 2026-08): for each company, the
posts whose title, summary or body contains each name (`fold`ed, so ignoring case and width: what
/search matched before synonyms) were counted; a company is here when its names together are in
at least 5 posts. The count comment above each entry gives that union, then each name's own
count. The Traditional names are in none of them: the blog writes 简体. They are here so a reader
who types 繁體 finds the same posts; a search that folds Traditional to Simplified (OpenCC t2s)
finds 微軟 as 微软 without them, but never 輝達 (t2s: 辉达) as 英伟达: that takes this table.

What a name is, and what it is not:

* Companies only, never products. A product is not its company: a search for Google must not
  return every post that mentions Gemini, nor one for Anthropic every Claude Code tip, and
  several products have more than one maker in the news (Copilot is Microsoft's and GitHub's).
  A reader who wants a product types it. [topics] (bot/topics.py) is the wider map on purpose:
  /tag groups a company with its products and its chief executive for browsing, while a search
  answers "which posts name this", so synonyms only join names of one and the same company.
* No people: 黄仁勋 is a person, not Nvidia; 马斯克's news spans xAI, Tesla, SpaceX and OpenAI.
* No parents, subsidiaries or labs as the company: Alphabet, DeepMind, AWS and Waymo are names of
  their own (阿里云 needs no entry: it contains 阿里).
* A company with one name everywhere (OpenAI, Anthropic, Meta, xAI, SpaceX, GitHub, Cursor,
  DeepMind, Cloudflare, Midjourney, ...) has no entry: there is nothing to add to its name.
* No name that mostly means something else, which would bring posts about that instead: 超威
  (also Chaowei Power) and 超微 (inside 美超微, Supermicro) for AMD, so only the full 超威半导体
  and Taiwan's 超微半導體; 理想 (ideal) for Li Auto, 荣耀 (glory, 王者荣耀) and Honor, 吉利
  (lucky), 地平线 (horizon), 面壁 (面壁者), 百川 (海纳百川), Kunlun alone (Baidu's 昆仑芯 too);
  short Latin names that are words or inside words: NIO (in "union"), PDD, JD, HP, Arm, Figure.
* Names kept although they have a second sense, because in this news the company is what they
  mean: 字节 (byte: 4 of its 119 posts use it only so), 苹果, 蚂蚁, 小米, 三星, 联想, 快手,
  阶跃, 甲骨文 and Oracle.
* Search finds any substring, and a widened search must find at least what each name finds on its
  own; so a Latin name that is mostly inside other words would bring those posts to every name of
  its company. "Intel" is inside "intelligence" (as a substring in 58 posts, as a word in 6),
  "Uber" in 26 posts and as a word in 19, "Cisco" in "San Francisco": Intel, Uber and Cisco have
  no entry (their Chinese names alone add nothing but Traditional forms, which folding covers).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.text import fold


@dataclass(frozen=True, slots=True)
class Entity:
    """A company and every name that stands for it, `name` included (first)."""

    name: str
    names: tuple[str, ...]


# Most posts first (the union over the entity's names), measured 2026-11 on the corpus; the
# config.example.toml ships the same table and a test keeps the two equal.
DEFAULT_SYNONYMS: tuple[Entity, ...] = (
    # 224: 谷歌 202, Google 135
    Entity("谷歌", ("谷歌", "Google")),
    # 185: 英伟达 172, Nvidia 38, 輝達 0, 英偉達 0, 辉达 0
    Entity("英伟达", ("英伟达", "Nvidia", "輝達", "英偉達", "辉达")),
    # 179: 阿里巴巴 59, 阿里 179, Alibaba 6
    Entity("阿里巴巴", ("阿里巴巴", "阿里", "Alibaba")),
    # 165: 微软 164, 微軟 0, Microsoft 20
    Entity("微软", ("微软", "微軟", "Microsoft")),
    # 151: DeepSeek 151, 深度求索 3
    Entity("DeepSeek", ("DeepSeek", "深度求索")),
    # 145: 腾讯 144, 騰訊 0, Tencent 2
    Entity("腾讯", ("腾讯", "騰訊", "Tencent")),
    # 131: 苹果 123, 蘋果 0, Apple 44
    Entity("苹果", ("苹果", "蘋果", "Apple")),
    # 119: 字节跳动 91, 字節跳動 0, 字节 119, 字節 0, ByteDance 0
    Entity("字节跳动", ("字节跳动", "字節跳動", "字节", "字節", "ByteDance")),
    # 111: 亚马逊 106, 亞馬遜 0, Amazon 9
    Entity("亚马逊", ("亚马逊", "亞馬遜", "Amazon")),
    # 92: 智谱 92, 智譜 0, Zhipu 0, Z.ai 1
    Entity("智谱", ("智谱", "智譜", "Zhipu", "Z.ai")),
    # 89: MiniMax 88, 稀宇科技 4, 稀宇 5
    Entity("MiniMax", ("MiniMax", "稀宇科技", "稀宇")),
    # 87: 华为 87, 華為 0, Huawei 0
    Entity("华为", ("华为", "華為", "Huawei")),
    # 87: 特斯拉 81, Tesla 8
    Entity("特斯拉", ("特斯拉", "Tesla")),
    # 81: 小米 81, Xiaomi 9
    Entity("小米", ("小米", "Xiaomi")),
    # 79: 百度 79, Baidu 1
    Entity("百度", ("百度", "Baidu")),
    # 73: 蚂蚁集团 31, 螞蟻集團 0, 蚂蚁 73, 螞蟻 0, Ant Group 0
    Entity("蚂蚁集团", ("蚂蚁集团", "螞蟻集團", "蚂蚁", "螞蟻", "Ant Group")),
    # 71: 月之暗面 68, Moonshot AI 5, Moonshot 6
    Entity("月之暗面", ("月之暗面", "Moonshot AI", "Moonshot")),
    # 59: 三星 59, Samsung 0
    Entity("三星", ("三星", "Samsung")),
    # 58: Hugging Face 46, HuggingFace 15
    Entity("Hugging Face", ("Hugging Face", "HuggingFace")),
    # 56: 美团 56, 美團 0, Meituan 0
    Entity("美团", ("美团", "美團", "Meituan")),
    # 54: 宇树科技 39, 宇樹科技 0, 宇树 54, 宇樹 0, Unitree 0
    Entity("宇树科技", ("宇树科技", "宇樹科技", "宇树", "宇樹", "Unitree")),
    # 47: 京东 47, 京東 0, JD.com 0
    Entity("京东", ("京东", "京東", "JD.com")),
    # 45: AMD 45, 超威半导体 0, 超威半導體 0, 超微半導體 0, 超微半导体 0
    Entity("AMD", ("AMD", "超威半导体", "超威半導體", "超微半導體", "超微半导体")),
    # 37: 阶跃星辰 35, 階躍星辰 0, 阶跃 37, 階躍 0, StepFun 0
    Entity("阶跃星辰", ("阶跃星辰", "階躍星辰", "阶跃", "階躍", "StepFun")),
    # 36: 商汤 36, 商湯 0, SenseTime 0
    Entity("商汤", ("商汤", "商湯", "SenseTime")),
    # 35: 软银 35, 軟銀 0, SoftBank 3
    Entity("软银", ("软银", "軟銀", "SoftBank")),
    # 34: 快手 34, Kuaishou 0
    Entity("快手", ("快手", "Kuaishou")),
    # 32: 联想 32, 聯想 0, Lenovo 1
    Entity("联想", ("联想", "聯想", "Lenovo")),
    # 32: 智元机器人 19, 智元機器人 0, 智元 32, AgiBot 3
    Entity("智元机器人", ("智元机器人", "智元機器人", "智元", "AgiBot")),
    # 32: Mistral 32, Mistral AI 20
    Entity("Mistral", ("Mistral", "Mistral AI")),
    # 31: 小红书 31, 小紅書 0, Xiaohongshu 0, RedNote 1
    Entity("小红书", ("小红书", "小紅書", "Xiaohongshu", "RedNote")),
    # 31: 甲骨文 23, Oracle 10
    Entity("甲骨文", ("甲骨文", "Oracle")),
    # 26: 摩尔线程 26, 摩爾線程 0, Moore Threads 1
    Entity("摩尔线程", ("摩尔线程", "摩爾線程", "Moore Threads")),
    # 25: 台积电 25, 台積電 0, TSMC 0
    Entity("台积电", ("台积电", "台積電", "TSMC")),
    # 25: Perplexity 25, Perplexity AI 5
    Entity("Perplexity", ("Perplexity", "Perplexity AI")),
    # 24: 高通 24, Qualcomm 0
    Entity("高通", ("高通", "Qualcomm")),
    # 23: 面壁智能 23, ModelBest 1
    Entity("面壁智能", ("面壁智能", "ModelBest")),
    # 23: 博通 22, Broadcom 1
    Entity("博通", ("博通", "Broadcom")),
    # 21: 网易 21, 網易 0, NetEase 0
    Entity("网易", ("网易", "網易", "NetEase")),
    # 21: 科大讯飞 16, 科大訊飛 0, 讯飞 21, 訊飛 0, iFlytek 0
    Entity("科大讯飞", ("科大讯飞", "科大訊飛", "讯飞", "訊飛", "iFlytek")),
    # 21: SK海力士 13, 海力士 21, SK Hynix 0, Hynix 0
    Entity("SK海力士", ("SK海力士", "海力士", "SK Hynix", "Hynix")),
    # 19: 小鹏 19, 小鵬 0, XPeng 0
    Entity("小鹏", ("小鹏", "小鵬", "XPeng")),
    # 18: 联发科 18, 聯發科 0, MediaTek 0
    Entity("联发科", ("联发科", "聯發科", "MediaTek")),
    # 17: 昆仑万维 17, 崑崙萬維 0, Kunlun Tech 0
    Entity("昆仑万维", ("昆仑万维", "崑崙萬維", "Kunlun Tech")),
    # 16: 宁德时代 16, 寧德時代 0, CATL 0
    Entity("宁德时代", ("宁德时代", "寧德時代", "CATL")),
    # 13: 寒武纪 13, 寒武紀 0, Cambricon 0
    Entity("寒武纪", ("寒武纪", "寒武紀", "Cambricon")),
    # 13: 戴尔 10, 戴爾 0, Dell 3
    Entity("戴尔", ("戴尔", "戴爾", "Dell")),
    # 12: 比亚迪 12, 比亞迪 0, BYD 0
    Entity("比亚迪", ("比亚迪", "比亞迪", "BYD")),
    # 12: 生数科技 12, 生數科技 0, Shengshu 0
    Entity("生数科技", ("生数科技", "生數科技", "Shengshu")),
    # 12: 中兴 12, 中興 0, ZTE 0
    Entity("中兴", ("中兴", "中興", "ZTE")),
    # 12: 迪士尼 12, Disney 3
    Entity("迪士尼", ("迪士尼", "Disney")),
    # 11: 哔哩哔哩 0, 嗶哩嗶哩 0, Bilibili 1, B站 10
    Entity("哔哩哔哩", ("哔哩哔哩", "嗶哩嗶哩", "Bilibili", "B站")),
    # 10: 索尼 10, Sony 0
    Entity("索尼", ("索尼", "Sony")),
    # 10: 美光 10, Micron 0
    Entity("美光", ("美光", "Micron")),
    # 8: Salesforce 7, 赛富时 1, 賽富時 0
    Entity("Salesforce", ("Salesforce", "赛富时", "賽富時")),
    # 7: 百川智能 6, Baichuan 6
    Entity("百川智能", ("百川智能", "Baichuan")),
    # 5: 零一万物 5, 零一萬物 0, 01.AI 0
    Entity("零一万物", ("零一万物", "零一萬物", "01.AI")),
    # 5: 富士康 4, 鸿海 2, 鴻海 0, Foxconn 0
    Entity("富士康", ("富士康", "鸿海", "鴻海", "Foxconn")),
)


def by_name(table: tuple[Entity, ...]) -> dict[str, Entity]:
    """Each name of each entity, `fold`ed (width and case), and the entity it stands for.

    Raises ValueError when one name stands for two entities: a search could not tell which.
    """
    found: dict[str, Entity] = {}
    for entity in table:
        for name in entity.names:
            key = fold(name)
            other = found.setdefault(key, entity)
            if other is not entity and other != entity:
                raise ValueError(f"{name!r} is a name of both {other.name!r} and {entity.name!r}")
    return found
