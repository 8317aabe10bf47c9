"""Word lists for demo games (`flask catalog seed`). Earlier entries are drawn more
often (a Zipf-like weight), so the catalog has very common words and rare ones, as
a real store does; the search benchmark relies on both."""

CATEGORIES = ["Action", "Adventure", "RPG", "Strategy", "Simulation", "Puzzle", "Casual",
              "Racing", "Sports", "Horror", "Shooter", "Platformer"]

TAGS = ["Indie", "Singleplayer", "Action", "Adventure", "Casual", "Multiplayer", "Atmospheric",
        "Story Rich", "Pixel Graphics", "Open World", "Co-op", "Fantasy", "Sci-fi", "Relaxing",
        "Roguelike", "Difficult", "Retro", "Exploration", "Survival", "Puzzle", "Cute", "Funny",
        "Turn-Based", "Strategy", "Sandbox", "Crafting", "Metroidvania", "Deckbuilder", "Horror",
        "Anime", "Space", "Zombies", "Visual Novel", "Farming", "Racing", "Controller Support"]

# The Korean names Korean stores use for the same categories and tags (`name_ko`).
KOREAN_NAMES = {
    "Action": "액션", "Adventure": "어드벤처", "RPG": "RPG", "Strategy": "전략", "Simulation": "시뮬레이션",
    "Puzzle": "퍼즐", "Casual": "캐주얼", "Racing": "레이싱", "Sports": "스포츠", "Horror": "공포",
    "Shooter": "슈팅", "Platformer": "플랫포머", "Indie": "인디", "Singleplayer": "싱글 플레이어",
    "Multiplayer": "멀티플레이어", "Atmospheric": "분위기 있는", "Story Rich": "스토리 중심",
    "Pixel Graphics": "픽셀 그래픽", "Open World": "오픈 월드", "Co-op": "협동", "Fantasy": "판타지",
    "Sci-fi": "SF", "Relaxing": "힐링", "Roguelike": "로그라이크", "Difficult": "고난도", "Retro": "레트로",
    "Exploration": "탐험", "Survival": "생존", "Cute": "귀여운", "Funny": "코미디", "Turn-Based": "턴제",
    "Sandbox": "샌드박스", "Crafting": "제작", "Metroidvania": "메트로배니아", "Deckbuilder": "덱 빌딩",
    "Anime": "애니메이션", "Space": "우주", "Zombies": "좀비", "Visual Novel": "비주얼 노벨",
    "Farming": "농장 경영", "Controller Support": "컨트롤러 지원",
}

ADJECTIVES = ["Dark", "Lost", "Last", "Eternal", "Hidden", "Silent", "Crimson", "Broken", "Forgotten",
              "Wild", "Iron", "Golden", "Shattered", "Endless", "Frozen", "Little", "Ancient", "Savage",
              "Neon", "Hollow", "Burning", "Infinite", "Cursed", "Brave", "Mystic", "Rusty", "Tiny",
              "Sacred", "Stellar", "Fallen", "Cosmic", "Electric", "Quiet", "Lonely", "Royal", "Rogue",
              "Secret", "Haunted", "Astral", "Blazing", "Distant", "Emerald", "Feral", "Gilded", "Grim",
              "Lucky", "Midnight", "Northern", "Obsidian", "Pale", "Radiant", "Scarlet", "Solar",
              "Sunken", "Twisted", "Velvet", "Wandering", "Wicked", "Zealous", "Arcane", "Bitter",
              "Celestial", "Clockwork", "Drowned", "Ember", "Fearless", "Gentle", "Hungry", "Ivory",
              "Jagged", "Kinetic", "Lunar", "Molten", "Nimble", "Opal", "Phantom", "Quantum", "Restless",
              "Sapphire", "Thorny", "Umbral", "Vivid", "Whispering", "Xenial", "Yonder", "Zephyr"]

NOUNS = ["Knight", "Star", "Dungeon", "Kingdom", "Legend", "Shadow", "Dragon", "Empire", "Frontier",
         "Quest", "Tales", "Souls", "Heart", "Island", "Hunter", "Garden", "Tower", "City", "Blade",
         "Storm", "Voyage", "Farm", "Harbor", "Forest", "Signal", "Engine", "Colony", "Planet", "Witch",
         "Crown", "Castle", "Circuit", "Orbit", "Rider", "Racer", "Sword", "Forge", "Ghost", "Echo",
         "Abyss", "Pilgrim", "Outpost", "Cafe", "Academy", "Detective", "Pirates", "Samurai", "Ninja",
         "Robot", "Fox", "Wolf", "Cat", "Owl", "Golem", "Titan", "Oracle", "Alchemist", "Bard",
         "Cartographer", "Drifter", "Exile", "Ferryman", "Gambit", "Hollow", "Inferno", "Jungle",
         "Labyrinth", "Mirage", "Nomad", "Odyssey", "Paladin", "Relic", "Sanctum", "Tundra", "Utopia",
         "Vanguard", "Warden", "Zenith", "Archive", "Bastion", "Citadel", "Dynasty", "Eclipse",
         "Fable", "Glacier", "Horizon", "Lantern", "Meadow", "Nexus", "Prism", "Reef", "Spire",
         "Thicket", "Vault", "Whirlwind", "Aurora", "Bloom", "Cinder", "Dune", "Fjord", "Grove"]

PLACES = ["the Abyss", "the North", "Avalon", "the Void", "Eldoria", "the Deep", "Neo Seoul",
          "the Stars", "the Ashlands", "Mirewood", "the Sunken City", "Hallowmere", "the Frontier",
          "Thornvale", "Ironhold", "the Last Light", "Dusk", "Everfrost", "Glimmerdeep", "Kaldheim",
          "the Tides", "Wyrmrest", "Zephyria", "Brightwater", "Cragspire", "the Outer Rim"]

SUBTITLES = ["Remastered", "Origins", "Reborn", "Awakening", "Deluxe Edition", "Director's Cut",
             "Chronicles", "Redux", "Legacy", "Ascension", "Revelations", "Uprising", "Homecoming",
             "Definitive Edition", "Frontiers", "Requiem", "Rising", "Beyond", "Afterglow", "Nightfall",
             "Second Wind", "Echoes", "Resonance", "Prologue", "Turbo", "Tactics", "Arena", "Online",
             "Survivors", "Idle", "Simulator", "Party", "Rush", "Royale", "Zero", "Unleashed"]

RARE_WORDS = ["Quixotic", "Zugzwang", "Borealis", "Kraken", "Xylophone", "Marzipan", "Sphinx",
              "Tesseract", "Quokka", "Axolotl", "Zeppelin", "Gargoyle", "Juggernaut", "Wombat"]

VERBS = ["explore", "build", "defend", "rebuild", "escape", "conquer", "protect", "uncover", "survive",
         "restore", "chart", "tame", "outwit", "befriend", "master"]
OBJECTS = ["a crumbling kingdom", "procedurally generated dungeons", "a drowned city", "a living galaxy",
           "a haunted lighthouse", "a cozy mountain village", "an endless desert", "a clockwork tower",
           "the ruins of an old empire", "a neon-lit metropolis", "a chain of floating islands",
           "a forest that remembers", "a frozen archipelago", "a space station adrift"]
MOODS = ["a hand-drawn", "a pixel-art", "a cosy", "a brutal", "a dreamy", "a neon", "a low-poly", "a noir",
         "a retro", "a whimsical"]
HOOKS = ["Every run is different.", "Your choices shape the ending.", "Play alone or with up to four friends.",
         "Hand-drawn art and an original soundtrack.", "Easy to learn, hard to master.",
         "Over 40 hours of story.", "No two worlds are the same.", "Full controller support.",
         "Made by a small team in Seoul.", "Relax, or chase the leaderboards."]
PRICES = [0, 5500, 9900, 11000, 16500, 22000, 27500, 33000, 44000, 55000, 64800]
PRICE_WEIGHTS = [8, 6, 14, 10, 16, 12, 8, 10, 7, 5, 4]
DISCOUNTS = [10, 15, 20, 25, 30, 40, 50, 60, 75, 90]

COVER_COLOURS = [((142, 45, 226), (74, 0, 224)), ((247, 151, 30), (192, 57, 43)),
                 ((17, 153, 142), (56, 239, 125)), ((61, 143, 209), (27, 36, 48)),
                 ((252, 70, 107), (63, 94, 251)), ((0, 176, 155), (150, 201, 61)),
                 ((255, 94, 98), (255, 153, 102)), ((32, 1, 34), (111, 0, 0)),
                 ((15, 32, 39), (44, 83, 100)), ((238, 156, 167), (255, 221, 225)),
                 ((66, 39, 90), (115, 75, 109)), ((20, 30, 48), (36, 59, 85))]


def zipf_weights(n: int, s: float = 0.9) -> list[float]:
    return [1 / (rank ** s) for rank in range(1, n + 1)]

# Demo players who buy and review the first games (`seed_reviews.py`).
PLAYERS = ["Minji", "pixelpanda", "서준", "NightOwl", "하늘별", "gamer_kim", "Aria", "rogue_one", "도윤",
           "Lumi", "SpeedySnail", "지우", "coffee_and_dice", "Haru", "tiny_titan", "수아", "Quill",
           "retro_rabbit", "민재", "Sol", "moonwalker", "예린", "Byte", "loot_goblin"]

# Review sentences by star rating: an opener, then one remark (Korean ones for players
# with a Korean nickname).
REVIEW_OPENERS = {
    1: ["Not worth it, even on sale.", "I wanted to like this, but I couldn't.", "Refund material for me."],
    2: ["Disappointing overall.", "A few good ideas buried under a lot of friction.", "It has moments, not many."],
    3: ["Decent, but uneven.", "Fine for a weekend.", "Solid ideas, average execution."],
    4: ["Really enjoyable.", "A great way to spend an evening.", "Better than I expected."],
    5: ["An absolute gem.", "One of the best games I've played this year.", "Instantly a favourite."],
}
REVIEW_REMARKS = ["The controls feel tight and responsive.", "The soundtrack stays with you.",
                  "The difficulty spikes a little late in the game.", "Great art direction throughout.",
                  "The story takes a while to get going.", "Lots of content for the price.",
                  "Runs smoothly even on my old laptop.", "The tutorial could explain more.",
                  "Co-op with friends is where it shines.", "I lost track of time playing it.",
                  "Some menus are clumsy.", "The ending was worth every hour."]
KO_REVIEW_OPENERS = {1: ["기대가 컸는데 실망했어요."], 2: ["아쉬운 점이 많아요."], 3: ["무난하게 즐길 만해요."],
                     4: ["재미있게 했어요."], 5: ["인생 게임입니다!"]}
KO_REVIEW_REMARKS = ["조작감이 좋고 반응이 빨라요.", "음악이 계속 귀에 맴돌아요.", "후반 난이도가 조금 높아요.",
                     "가격 대비 콘텐츠가 풍부해요.", "친구와 협동할 때 제일 재밌어요.", "스토리 전개가 조금 느려요."]
