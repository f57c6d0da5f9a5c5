"""Names and reference lists of the Huazhou demo district.

Real: the district, its street and nine towns (华州区 1 街道 + 9 镇), and the communities the
source report names (吴家社区, 金堆社区, 新民社区). Town seat coordinates are approximate
(WGS84, a few hundred metres). Everything else here — village and estate names, road names,
people, phones — is generated and must not be read as real.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CATEGORIES",
    "DEPARTMENTS",
    "DISTRICT_ADCODE",
    "DISTRICT_NAME",
    "TOWNS",
    "CategorySeed",
    "TownSeed",
]

DISTRICT_ADCODE = "610503"
DISTRICT_NAME = "华州区"
ADDRESS_PREFIX = "陕西省渭南市华州区"


@dataclass(frozen=True, slots=True)
class TownSeed:
    name: str
    is_street: bool
    seat: tuple[float, float]  # approximate seat (lon, lat), WGS84
    communities: int  # 社区 (urban)
    villages: int  # 村
    urban: float  # 0..1: how urban (density of grids, households per grid)
    named: tuple[str, ...] = ()  # real community names from the source report


TOWNS: tuple[TownSeed, ...] = (
    TownSeed("华州街道", True, (109.772, 34.512), 16, 8, 1.0, ("吴家社区", "红岭社区")),
    TownSeed("杏林镇", False, (109.718, 34.520), 3, 15, 0.55, ("新民社区",)),
    TownSeed("赤水镇", False, (109.655, 34.530), 2, 15, 0.4),
    TownSeed("高塘镇", False, (109.700, 34.455), 2, 13, 0.3),
    TownSeed("大明镇", False, (109.845, 34.565), 2, 12, 0.4),
    TownSeed("瓜坡镇", False, (109.830, 34.510), 2, 14, 0.45),
    TownSeed("莲花寺镇", False, (109.870, 34.470), 2, 13, 0.35),
    TownSeed("柳枝镇", False, (109.875, 34.530), 2, 15, 0.4),
    TownSeed("下庙镇", False, (109.790, 34.570), 2, 13, 0.35),
    TownSeed("金堆镇", False, (109.850, 34.300), 1, 7, 0.15, ("金堆社区",)),
)
"""1 street + 9 towns with 159 communities/villages in all."""

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
)
GIVEN_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红建国建华志强文斌海燕"
    "鹏辉丹宁浩宇欣怡子涵梓轩晨曦佳琪俊杰思远雨桐嘉怡博文天佑锦程婷婷建军卫东春梅秋菊"
)
VILLAGE_PREFIXES = "东西南北前后上下新老大小中高"
VILLAGE_ROOTS = (
    "赵庄 王堡 李寨 张村 刘家 陈庄 杨坡 马渠 郭湾 周原 吴堡 孙家 胡坊 朱阳 高桥 林河 何湾 罗坡 "
    "梁村 宋寨 郑庄 谢家 韩坡 唐村 冯堡 于家 董庄 程家 曹村 袁湾 邓家 许庄 傅村 沈家 彭坡 吕堡 "
    "苏村 卢寨 蒋家 蔡庄 贾村 丁家 魏坡 薛村 叶堡 余庄 潘家 杜村 戴坡 夏家 钟村 汪堡 田家 任庄 "
    "姜村 范家 方坡 石堡 姚庄 谭村 廖家 邹坡 熊村 金台 陆家 郝庄 孔村 白崖 崔家 康坡 毛堡 邱村 "
    "秦岭 江坡 史家 桃园 杏园 梨园 柳园 槐树 枣林 沙坡 石门 龙泉 凤凰 莲花 太平 永丰 长乐 兴隆"
).split()
COMMUNITY_ROOTS = (
    "东关 西关 南关 北关 城关 少华 莲池 红岭 吴家 朝阳 新华 文化 育才 光明 建设 和平 "
    "友谊 幸福 华山 渭河 金惠 站前 丰源 锦绣 康乐 兴华 同心 新民 长青 柳林 金堆 书院"
).split()
ROADS = (
    "少华路 东关街 西关街 南大街 北大街 朝阳路 新建路 莲花路 华山大道 渭河路 站前路 文化路 "
    "育才路 建设路 光明路 府前街 书院街 红岭路 吴家巷 金惠路 丰源路 和平路 友谊路 兴华路"
).split()
ESTATE_SUFFIXES = ("花园", "小区", "家园", "苑", "嘉园", "新村", "名邸", "公寓", "华庭", "雅居")
ESTATE_ROOTS = (
    "米兰 红岭 少华 莲池 金地 锦绣 阳光 幸福 和谐 紫荆 翠苑 滨河 华府 书香 御景 "
    "翰林 城南 东方 世纪 新城 兰亭 丽景 盛世 怡和 康馨 福苑 百合 明珠 绿洲 秦风"
).split()

DEDICATED_ENTITIES: dict[str, tuple[str, ...]] = {
    "school": ("第一中学", "第二中学", "实验小学", "中心小学", "职业中学", "幼儿园", "初级中学"),
    "hospital": ("人民医院", "中医医院", "卫生院", "妇幼保健院", "社区卫生服务中心"),
    "market": ("农贸市场", "综合市场", "蔬菜批发市场", "商贸城", "超市"),
    "enterprise": ("钼业公司", "建材厂", "食品公司", "物流园", "机械厂", "电子厂"),
    "park": ("公园", "广场", "湿地公园", "体育公园"),
    "government": ("政务服务中心", "便民服务中心"),
    "scenic_area": ("少华山景区",),
    "construction_site": ("安置房项目工地",),
}
DEDICATED_WEIGHTS = {
    "school": 0.34,
    "hospital": 0.12,
    "market": 0.16,
    "enterprise": 0.2,
    "park": 0.1,
    "government": 0.04,
    "scenic_area": 0.01,
    "construction_site": 0.03,
}

DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("police", "公安分局", "police"),
    ("traffic_police", "公安分局交警大队", "police"),
    ("urban_mgmt", "城市管理执法局", "urban_management"),
    ("sanitation", "环境卫生服务中心", "sanitation"),
    ("housing", "住房和城乡建设局", "construction"),
    ("natural_resources", "自然资源分局", "land"),
    ("ecology", "生态环境分局", "environment"),
    ("water", "水务局", "water"),
    ("transport", "交通运输局", "transport"),
    ("health", "卫生健康局", "health"),
    ("cdc", "疾病预防控制中心", "health"),
    ("civil_affairs", "民政局", "civil_affairs"),
    ("hr_social", "人力资源和社会保障局", "social_security"),
    ("medical_insurance", "医疗保障局", "social_security"),
    ("education", "教育局", "education"),
    ("culture_tourism", "文化和旅游局", "culture"),
    ("market_regulation", "市场监督管理局", "market"),
    ("emergency", "应急管理局", "emergency"),
    ("fire", "消防救援大队", "emergency"),
    ("agriculture", "农业农村局", "agriculture"),
    ("forestry", "林业局", "agriculture"),
    ("justice", "司法局", "justice"),
    ("petition", "信访局", "justice"),
    ("court", "人民法院", "justice"),
    ("procuratorate", "人民检察院", "justice"),
    ("veterans", "退役军人事务局", "civil_affairs"),
    ("finance", "财政局", "administration"),
    ("development", "发展和改革局", "administration"),
    ("industry", "工业和信息化局", "administration"),
    ("commerce", "商务局", "market"),
    ("statistics", "统计局", "administration"),
    ("audit", "审计局", "administration"),
    ("admin_approval", "行政审批服务局", "administration"),
    ("data_bureau", "数据局", "administration"),
    ("women", "妇女联合会", "mass_organisation"),
    ("youth", "共青团区委", "mass_organisation"),
    ("trade_union", "总工会", "mass_organisation"),
    ("disabled", "残疾人联合会", "mass_organisation"),
    ("red_cross", "红十字会", "mass_organisation"),
    ("power", "供电分公司", "utility"),
    ("gas", "燃气公司", "utility"),
    ("water_supply", "供水公司", "utility"),
    ("telecom", "通信运营商", "utility"),
    ("post", "邮政分公司", "utility"),
    ("heating", "供热公司", "utility"),
    ("property_office", "物业管理办公室", "construction"),
    ("demolition", "征收安置办公室", "construction"),
    ("parks", "园林绿化中心", "sanitation"),
    ("municipal", "市政设施管理中心", "construction"),
    ("road_mgmt", "公路管理段", "transport"),
    ("flood", "防汛抗旱指挥部办公室", "emergency"),
    ("seismic", "地震局", "emergency"),
    ("weather", "气象局", "emergency"),
    ("food_safety", "食品安全委员会办公室", "market"),
    ("drugs", "药品监督管理所", "market"),
    ("tax", "税务局", "administration"),
    ("party_org", "区委组织部", "party"),
    ("party_united", "区委统战部", "party"),
    ("party_politics", "区委政法委员会", "party"),
    ("party_propaganda", "区委宣传部", "party"),
    ("discipline", "纪律检查委员会", "party"),
    ("ethnic_religion", "民族宗教事务局", "civil_affairs"),
    ("archives", "档案馆", "culture"),
    ("library", "图书馆", "culture"),
    ("sports", "体育运动中心", "culture"),
    ("radio_tv", "融媒体中心", "culture"),
    ("rural_revitalization", "乡村振兴局", "agriculture"),
    ("animal_health", "动物卫生监督所", "agriculture"),
    ("water_conservancy", "水利工作站", "water"),
    ("river_chief", "河长制办公室", "water"),
    ("urban_planning", "城乡规划服务中心", "construction"),
    ("social_governance", "社会治理中心", "administration"),
    ("hotline", "12345政务服务便民热线", "administration"),
    ("legal_aid", "法律援助中心", "justice"),
    ("mediation", "人民调解委员会", "justice"),
)
"""75 departments, as in the source ("75个部门"). Names are those of a typical district
government; each is prefixed with 华州区 when loaded."""


WORKING_TIME_FROM_HOURS = 72
"""Deadlines of three days or more run in working hours (weekends and holidays off); shorter
ones (a day for refuse, four hours for an emergency) run around the clock."""


@dataclass(frozen=True, slots=True)
class CategorySeed:
    code: str
    name: str
    level: str  # default handling level
    deadline_hours: int
    department: str | None = None  # default department code for dispatch
    weight: float = 1.0  # share of demo issues


CATEGORIES: tuple[tuple[CategorySeed, tuple[CategorySeed, ...]], ...] = (
    (
        CategorySeed("10", "政策宣传", "grid", 72),
        (
            CategorySeed("1001", "惠民政策咨询", "grid", 48, weight=1.2),
            CategorySeed("1002", "社保医保政策", "community", 72, "hr_social", 1.0),
            CategorySeed("1003", "法律法规宣传", "grid", 120, "justice", 0.5),
        ),
    ),
    (
        CategorySeed("11", "矛盾调解", "community", 120),
        (
            CategorySeed("1101", "邻里纠纷", "grid", 72, "mediation", 2.0),
            CategorySeed("1102", "家庭矛盾", "grid", 72, "women", 0.8),
            CategorySeed("1103", "物业纠纷", "community", 120, "property_office", 1.4),
            CategorySeed("1104", "劳资纠纷", "street", 168, "hr_social", 0.6),
            CategorySeed("1105", "土地权属纠纷", "street", 240, "natural_resources", 0.4),
        ),
    ),
    (
        CategorySeed("12", "环境卫生", "grid", 48),
        (
            CategorySeed("1201", "垃圾清运", "grid", 24, "sanitation", 3.0),
            CategorySeed("1202", "污水外溢", "community", 48, "water", 1.0),
            CategorySeed("1203", "公厕管理", "community", 48, "sanitation", 0.5),
            CategorySeed("1204", "病媒生物防制", "community", 72, "cdc", 0.4),
        ),
    ),
    (
        CategorySeed("13", "医疗服务", "community", 72),
        (
            CategorySeed("1301", "就医协助", "community", 48, "health", 0.8),
            CategorySeed("1302", "慢病随访", "community", 168, "health", 0.6),
            CategorySeed("1303", "健康体检", "community", 168, "health", 0.4),
        ),
    ),
    (
        CategorySeed("14", "文化服务", "community", 168),
        (
            CategorySeed("1401", "文体活动场地", "community", 168, "culture_tourism", 0.4),
            CategorySeed("1402", "图书阅览", "community", 168, "library", 0.2),
        ),
    ),
    (
        CategorySeed("15", "帮办代办", "grid", 72),
        (
            CategorySeed("1501", "证照代办", "grid", 72, "admin_approval", 1.0),
            CategorySeed("1502", "困难群众帮扶", "community", 72, "civil_affairs", 0.9),
            CategorySeed("1503", "独居老人关爱", "grid", 24, "civil_affairs", 0.7),
        ),
    ),
    (
        CategorySeed("01", "市容环境", "grid", 48, "urban_mgmt"),
        (
            CategorySeed("0101", "暴露垃圾", "grid", 24, "sanitation", 2.0),
            CategorySeed("0102", "积存垃圾渣土", "grid", 48, "sanitation", 1.0),
            CategorySeed("0103", "道路不洁", "grid", 24, "sanitation", 1.2),
            CategorySeed("0104", "绿地脏乱", "community", 48, "parks", 0.6),
        ),
    ),
    (
        CategorySeed("02", "宣传广告", "community", 72, "urban_mgmt"),
        (
            CategorySeed("0201", "非法小广告", "grid", 24, "urban_mgmt", 1.3),
            CategorySeed("0202", "违规户外广告", "street", 120, "urban_mgmt", 0.4),
        ),
    ),
    (
        CategorySeed("03", "施工管理", "street", 72, "housing"),
        (
            CategorySeed("0301", "施工扰民", "street", 48, "housing", 1.0),
            CategorySeed("0302", "工地扬尘", "street", 48, "ecology", 0.8),
            CategorySeed("0303", "道路破损", "department", 120, "municipal", 0.9),
        ),
    ),
    (
        CategorySeed("04", "街面秩序", "community", 24, "urban_mgmt"),
        (
            CategorySeed("0401", "占道经营", "grid", 12, "urban_mgmt", 1.5),
            CategorySeed("0402", "乱停乱放", "grid", 12, "traffic_police", 1.3),
            CategorySeed("0403", "噪音扰民", "community", 24, "police", 0.9),
        ),
    ),
    (
        CategorySeed("05", "突发事件", "department", 4, "emergency"),
        (
            CategorySeed("0501", "路面塌陷", "department", 4, "municipal", 0.2),
            CategorySeed("0502", "自来水管爆裂", "department", 4, "water_supply", 0.3),
            CategorySeed("0503", "火灾隐患", "department", 8, "fire", 0.3),
            CategorySeed("0504", "防汛积水", "department", 6, "flood", 0.3),
        ),
    ),
    (
        CategorySeed("06", "扩展事件", "community", 120),
        (
            CategorySeed("0601", "违法建设", "street", 240, "urban_mgmt", 0.6),
            CategorySeed("0602", "供暖供气", "department", 48, "gas", 0.5),
            CategorySeed("0603", "安全生产隐患", "department", 48, "emergency", 0.4),
        ),
    ),
)
"""Two-level taxonomy: the source's service kinds (政策宣传, 矛盾调解, 环境卫生, 医疗服务,
文化服务, 帮办代办; codes 10-15) and the city-management event classes (市容环境, 宣传广告,
施工管理, 街面秩序, 突发事件, 扩展事件; codes 01-06) with subclasses."""
