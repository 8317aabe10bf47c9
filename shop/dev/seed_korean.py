"""Korean demo games (`flask catalog seed`): titles, short descriptions and
descriptions in natural Korean. About a third of the demo catalog is Korean, as a
store for Korea would be; the titles glue particles and compounds onto words
("황금 하늘의 검", "흰늑대의 노래"), which is what Korean search must see through.

Every function takes the generator's seeded `random()` so game i stays the same."""

MODIFIERS = ["어둠의", "빛의", "잊혀진", "마지막", "작은", "푸른", "붉은", "검은", "하얀", "영원한",
             "고요한", "위대한", "신비한", "별빛", "달빛", "전설의", "용감한", "외로운", "비밀의", "황금",
             "얼어붙은", "불타는", "끝없는", "숨겨진", "고대의", "떠도는", "은빛", "새벽의", "폭풍의", "꿈꾸는"]
# Compounds are one word ("흰늑대", "밤하늘"): a query for a part of one ("늑대") must find it.
NOUNS = ["기사", "왕국", "전설", "던전", "용사", "마법사", "섬", "숲", "바다", "하늘", "도시", "여우",
         "고양이", "늑대", "유령", "로봇", "모험", "농장", "요리사", "탐정", "학교", "우주", "시간", "꿈",
         "그림자", "불꽃", "얼음", "천둥", "정원", "카페", "편의점", "해적", "닌자", "검", "방패", "별",
         "달", "바람", "용", "성", "탑", "미궁", "항구", "열차", "연금술사", "수호자", "흰늑대", "밤하늘",
         "불새", "눈꽃", "별똥별", "바다거북", "검은고양이", "은하수", "등대지기", "마법학교"]
# Made-up heroes and places, for "<name>의 전설"-style titles.
NAMES = ["젤리아", "아르반", "루미나", "카이렌", "세라핀", "이오나", "미르", "하루", "도담", "아리솔",
         "엘도라", "한울", "벨리아", "라온", "소하"]
STORIES = ["전설", "노래", "모험", "검", "비밀", "약속", "여행", "왕관", "눈물", "이야기", "유산", "기억",
           "마지막 날", "귀환", "연대기"]
SUBTITLES = ["키우기", "대모험", "이야기", "연대기", "리마스터", "온라인", "디럭스 에디션", "귀환",
             "각성", "부활", "타이쿤", "시뮬레이터", "오리진", "서바이벌", "디펜스", "RPG"]
FORMATS = ("{mod} {noun}", "{noun}의 {noun2}", "{mod} {noun}: {sub}", "{noun} {sub}", "{mod} {noun}의 {story}",
           "{name}의 {story}", "{name}의 {story}: {sub}", "{noun}의 {story}")
FORMAT_WEIGHTS = (3, 2, 2, 1, 3, 3, 1, 2)

GENRES = ["로그라이크", "액션 RPG", "퍼즐 게임", "생활 시뮬레이션", "메트로배니아", "전략 게임", "어드벤처",
          "덱빌딩 게임", "농장 경영 게임", "비주얼 노벨", "생존 게임", "리듬 게임"]
MOODS = ["손으로 그린", "픽셀 아트", "아늑한", "잔혹한", "몽환적인", "레트로 감성의", "귀여운", "어두운",
         "수채화풍의", "네온 빛"]
MISSIONS = ["무너져 가는 왕국을 되살리세요.", "물에 잠긴 도시의 비밀을 밝혀내세요.", "끝없는 사막을 건너세요.",
            "하늘에 떠 있는 섬들을 탐험하세요.", "안개 낀 숲에서 살아남으세요.", "얼어붙은 군도를 개척하세요.",
            "네온이 빛나는 도시를 지켜 내세요.", "버려진 우주 정거장에서 탈출하세요.",
            "유령이 사는 등대의 수수께끼를 푸세요.", "작은 산골 마을에서 농장을 가꾸세요.",
            "고대 제국의 폐허를 탐사하세요.", "태엽으로 움직이는 탑의 꼭대기에 오르세요."]
HOOKS = ["매번 다른 모험이 기다립니다.", "당신의 선택이 결말을 바꿉니다.", "친구와 함께 협동 플레이를 즐기세요.",
         "손으로 그린 그래픽과 오리지널 사운드트랙.", "쉽게 배우고 깊게 즐기세요.", "40시간이 넘는 이야기.",
         "같은 세계는 두 번 나오지 않습니다.", "게임패드를 완벽하게 지원합니다.", "서울의 작은 팀이 만들었습니다.",
         "느긋하게 즐기거나 순위표에 도전하세요."]


def _pick(items, random):
    return items[int(random() * len(items))]


def title(random, format_index: int) -> str:
    parts = {"mod": _pick(MODIFIERS, random), "noun": _pick(NOUNS, random), "noun2": _pick(NOUNS, random),
             "sub": _pick(SUBTITLES, random), "name": _pick(NAMES, random), "story": _pick(STORIES, random)}
    return FORMATS[format_index].format(**parts)


def short_description(random) -> str:
    return f"{_pick(MOODS, random)} {_pick(GENRES, random)}. {_pick(MISSIONS, random)}"


def description(name: str, random) -> str:
    return (f"**{name}** — {_pick(MISSIONS, random)}\n\n"
            f"{_pick(HOOKS, random)} {_pick(HOOKS, random)}")
