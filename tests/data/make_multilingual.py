"""Writes tests/data/multilingual.txt: the tokenizer fidelity corpus (deterministic; run it to regenerate).

    $ python tests/data/make_multilingual.py            # rewrites the file; same bytes every time

Every line is one test case for tests/test_tokenizer_fidelity.py: sentences in 30+ languages and scripts, code
in ten languages, numbers in many notations and digit systems, whitespace runs (tabs, no-break and ideographic
spaces, zero-width characters), emoji with skin tones, ZWJ sequences, flags, keycaps and tag sequences. A seeded
generator then mixes fragments of all of these with varied separators, so the file reaches a few thousand lines
while staying reproducible. Lines never contain ``\\r`` or ``\\n`` (the test builds multi-line cases itself).

Sources: the sentences, code and lists were written for this project, except (a) a few short tokenizer test
strings from llama.cpp's ``models/ggml-vocab-*.gguf.inp`` (MIT licence, Copyright (c) 2023-2024 The ggml authors):
"ied 4 ½ months", "w048 7tuijk dsdfhu", the "Hello, y'all! ..." and "🚀 (normal) ..." lines, the "I've been 'told
..." contractions line, "កាន់តែពិសេសអាចខលចេញ" and "нещо на Български"; (b) public-domain classics and pangrams:
Confucius (學而時習之), Li Bai (床前明月光), Natsume Sōseki (吾輩は猫である), the Basmala, and the common Russian,
Polish, Czech and Greek pangrams.
"""

from __future__ import annotations

import random
from pathlib import Path

OUT = Path(__file__).with_name("multilingual.txt")
SEED = 18

SENTENCES: dict[str, list[str]] = {
    "en": [
        "The quick brown fox jumps over the lazy dog.",
        "I've been told he's there, but we'll see; they'd rather you're sure.",
        "Tokenizers don't see characters: they see bytes, merged into pieces by rank.",
        "She said: \"It's 5 o'clock somewhere\" — and left.",
        "WHAT'S UP? I'M FINE, YOU'RE LATE, WE'VE WAITED, THEY'LL COME, HE'D KNOW.",
        "Antidisestablishmentarianism is a famously long English word.",
        "e-mail, re-enter, co-operate, well-known, state-of-the-art, mother-in-law",
        "Supercalifragilisticexpialidocious! Pneumonoultramicroscopicsilicovolcanoconiosis?",
        "The capital of France is Paris; the capital of Vietnam is Hanoi.",
        "A large language model predicts the next token, one at a time.",
    ],
    "vi": [
        "Tiếng Việt có sáu thanh điệu: ngang, huyền, sắc, hỏi, ngã, nặng.",
        "Hà Nội là thủ đô của nước Cộng hòa Xã hội chủ nghĩa Việt Nam.",
        "Tôi muốn đặt một vé máy bay từ Thành phố Hồ Chí Minh đi Đà Nẵng.",
        "Phở bò, bún chả, bánh mì và cà phê sữa đá là những món ăn nổi tiếng.",
        "Người ta thường nói: học, học nữa, học mãi.",
        "Mô hình ngôn ngữ lớn không đọc chữ cái mà đọc các mảnh byte.",
        "Chúng tôi đã nghiên cứu việc phân tách từ trong tiếng Việt suốt nhiều năm.",
        "Những ngày cuối tuần, gia đình tôi thường về quê thăm ông bà nội ngoại.",
        "Trường Đại học Bách khoa Hà Nội được thành lập năm 1956.",
        "Quyển sách này rất hay, bạn nên đọc thử một lần xem sao.",
        "Xin chào! Bạn có khỏe không? Cảm ơn, tôi khỏe.",
        "Nguyễn, Trần, Lê, Phạm, Hoàng, Huỳnh, Phan, Vũ, Võ, Đặng, Bùi, Đỗ, Hồ, Ngô, Dương, Lý",
    ],
    "zh": [
        "大型语言模型把文本切分成词元，然后逐个预测下一个词元。",
        "我想在苹果公司工作一千三百一十四天。",
        "北京是中华人民共和国的首都，上海是最大的城市。",
        "今天天气很好，我们去公园散步吧！",
        "學而時習之，不亦說乎？有朋自遠方來，不亦樂乎？",
        "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。",
        "机器学习、深度学习和自然语言处理是人工智能的重要分支。",
        "请问从北京到上海的火车票多少钱？",
        "臺灣的繁體中文和大陸的简体中文在字形上有所不同。",
        "这个分词器在中文上每个字大约需要一到两个词元。",
    ],
    "ja": [
        "吾輩は猫である。名前はまだ無い。",
        "東京タワーからの夜景はとても綺麗です。",
        "トークナイザーは文字ではなくバイトを見ています。",
        "ひらがな、カタカナ、漢字を混ぜて書くのが日本語です。",
        "すみません、この電車は新宿駅に止まりますか？",
        "ｶﾀｶﾅの半角文字と全角文字：ＡＢＣ１２３",
        "今日は2026年12月1日（火曜日）です。",
        "私はプログラミングが大好きで、毎日Pythonを書いています。",
    ],
    "ko": [
        "대규모 언어 모델은 텍스트를 토큰으로 나눕니다.",
        "서울은 대한민국의 수도이며 가장 큰 도시입니다.",
        "안녕하세요! 만나서 반갑습니다.",
        "한글은 세종대왕이 1443년에 창제한 문자입니다.",
        "김치찌개와 된장찌개 중에서 무엇을 드시겠어요?",
        "오늘 날씨가 정말 좋네요. 산책하러 갈까요?",
    ],
    "ar": [
        "النماذج اللغوية الكبيرة تقسم النص إلى رموز.",
        "القاهرة هي عاصمة جمهورية مصر العربية.",
        "مرحبا بكم في مختبر هندسة النماذج اللغوية.",
        "اللغة العربية تكتب من اليمين إلى اليسار.",
        "كم سعر تذكرة الطيران من دبي إلى باريس؟",
        "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ",
        "الأرقام العربية الهندية: ٠١٢٣٤٥٦٧٨٩ والأرقام الغربية: 0123456789",
        "ذهب الطالب إلى المكتبة لقراءة كتاب عن التاريخ.",
    ],
    "fa": [
        "زبان فارسی با الفبای عربی نوشته می‌شود.",
        "تهران پایتخت ایران است و جمعیت زیادی دارد.",
        "اعداد فارسی: ۰۱۲۳۴۵۶۷۸۹",
    ],
    "he": [
        "עברית נכתבת מימין לשמאל.",
        "ירושלים היא עיר עתיקה מאוד.",
        "שָׁלוֹם עֲלֵיכֶם",
    ],
    "hi": [
        "बड़े भाषा मॉडल पाठ को टोकन में बाँटते हैं।",
        "नई दिल्ली भारत की राजधानी है।",
        "मुझे हिंदी में बात करना बहुत अच्छा लगता है।",
        "क्या आप मुझे रेलवे स्टेशन का रास्ता बता सकते हैं?",
        "देवनागरी अंक: ०१२३४५६७८९",
        "आज मौसम बहुत सुहावना है, चलो बाहर घूमने चलते हैं।",
        "भारत में सैकड़ों भाषाएँ और हज़ारों बोलियाँ बोली जाती हैं।",
    ],
    "bn": [
        "বাংলা ভাষা বিশ্বের অন্যতম বহুল প্রচলিত ভাষা।",
        "ঢাকা বাংলাদেশের রাজধানী।",
    ],
    "ta": [
        "தமிழ் மிகவும் பழமையான மொழிகளில் ஒன்று.",
        "சென்னை தமிழ்நாட்டின் தலைநகரம்.",
    ],
    "th": [
        "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
        "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
        "สวัสดีครับ ยินดีที่ได้รู้จัก",
    ],
    "km": [
        "កាន់តែពិសេសអាចខលចេញ",
        "ភាសាខ្មែរ គឺជាភាសាផ្លូវការរបស់ប្រទេសកម្ពុជា។",
    ],
    "ru": [
        "Большие языковые модели делят текст на токены.",
        "Москва — столица Российской Федерации.",
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "Привет! Как дела? Всё хорошо, спасибо.",
        "нещо на Български и още малко текст на кирилица",
    ],
    "uk": [
        "Київ — столиця України, місто на Дніпрі.",
        "Ґанок, їжак, єнот, ірис: українські літери.",
    ],
    "el": [
        "Τα μεγάλα γλωσσικά μοντέλα χωρίζουν το κείμενο σε σύμβολα.",
        "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
        "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
    ],
    "hy": ["Հայերենը հնդեվրոպական լեզու է։"],
    "ka": ["ქართული ენა ძალიან ლამაზია."],
    "am": ["አማርኛ የኢትዮጵያ የሥራ ቋንቋ ነው።"],
    "tr": [
        "Büyük dil modelleri metni parçalara ayırır.",
        "İstanbul'da çay içmek ve Boğaz'ı izlemek çok güzel.",
        "Çekoslovakyalılaştıramadıklarımızdan mısınız?",
    ],
    "de": [
        "Donaudampfschifffahrtsgesellschaftskapitän ist ein langes Wort.",
        "Die Straße ist nass, weil es geregnet hat; Grüße aus München!",
        "Führer, Fräulein, Größe, Übermut, Äpfel, Öl.",
    ],
    "fr": [
        "L'été dernier, nous sommes allés à la plage près de Marseille.",
        "Où est la bibliothèque ? Je voudrais emprunter « Les Misérables ».",
        "naïve café, déjà vu, crème brûlée, cœur, œuvre, façade",
    ],
    "es": [
        "¿Dónde está la estación de tren? ¡Necesito llegar a Madrid!",
        "El pingüino comió ñoquis con su cigüeña en Zaragoza.",
    ],
    "pt": ["A criança não sabia que o coração do pássaro batia tão rápido."],
    "pl": ["Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig."],
    "cs": ["Příliš žluťoučký kůň úpěl ďábelské ódy."],
    "is": ["Þú ert ekki að fá þér kaffi í dag, er það?"],
    "sw": ["Kiswahili ni lugha inayozungumzwa Afrika Mashariki."],
    "yo": ["Ẹ kú àárọ̀! Ṣé dáadáa ni?"],
    "mn": ["Монгол хэл кирилл үсгээр бичигддэг."],
    "ipa": ["ˈɪŋɡlɪʃ fəˈnɛtɪks: ʃ ʒ θ ð ŋ ɹ ʔ æ ɑ ɔ ə ʊ"],
    "math": [
        "∀x ∈ ℝ: x² ≥ 0, ∑ᵢ₌₁ⁿ i = n(n+1)/2, ∫₀^∞ e^{-x} dx = 1",
        "α + β = γ; Δx → 0; π ≈ 3.14159; √2 ≈ 1.41421; ∞ ≠ ∅",
        "½ + ¼ = ¾; ⅓ ≈ 0.333; ① ② ③; Ⅻ; x¹ x² x³",
        "€1.234,56 £99.99 ¥10,000 ₹2,50,000 ₫1.000.000 $1,499.99 ₿0.005",
    ],
}

CODE = [
    "def add(a, b):",
    '    """Sum."""',
    "    return a + b  # 😀",
    'if __name__ == "__main__":',
    "\tprint(add(2, 40))",
    "for (let i = 0; i < arr.length; i++) { console.log(`item ${i}: ${arr[i]}`); }",
    "const greet = (name) => `Hello, ${name}!`;",
    'fn main() { let v: Vec<u32> = (1..=10).map(|x| x * x).collect(); println!("{:?}", v); }',
    "#include <stdio.h>",
    'int main(void) { printf("%d\\n", 42); return 0; }',
    "SELECT name, COUNT(*) AS n FROM users WHERE age >= 18 GROUP BY name ORDER BY n DESC;",
    '<div class="card"><a href="https://example.com/?q=1&amp;lang=vi">Xem thêm</a></div>',
    '{"id": 123, "name": "Ada", "tags": ["a", "b"], "ok": true, "score": -0.5e-3}',
    "curl -s -H \"Authorization: Bearer $TOKEN\" https://api.example.com/v1/items | jq '.[0]'",
    "re.compile(r\"(?i:'s|'t)|\\p{L}+|\\p{N}{1,3}|\\s+(?!\\S)\")",
    "\\frac{a}{b} + \\sqrt{x^2 + y^2} = \\sum_{i=0}^{n} \\alpha_i",
    "x = [i ** 2 for i in range(10) if i % 2 == 0]  # squares of even numbers",
    "    while (n --> 0) {{ total += n; }}",
    'git commit -m "fix: tokenizer fidelity (#18)" && git push origin main',
    'public static void main(String[] args) { System.out.println("Xin chào"); }',
    "DROP TABLE IF EXISTS bookings; -- never from model output",
    'assert tok.encode("1234567") == [4513, 10961, 22]',
    "@dataclass(frozen=True)",
    "class Piece:    id: int;    bytes: bytes",
    "lambda x: x if x else None  ## ~~~ ::: ;;; ,,, ... !!! ??? ___ --- === +++ ***",
    "'''''' ``````` \"\"\"\"\"\" ...... !!!!!! ?????? ------ ====== ______",
]

NUMBERS = [
    "0",
    "1",
    "10",
    "100",
    "999",
    "1000",
    "1234567",
    "12345678901234567890",
    "3.14159265358979",
    "0.5",
    "1e-9",
    "6.022e23",
    "-273.15",
    "+84 912 345 678",
    "(555) 123-4567",
    "2026-12-01",
    "23:59:59",
    "1,499.99",
    "1.499,99",
    "1 499,99",
    "0x1F600",
    "0b101010",
    "0o755",
    "192.168.0.1",
    "v1.2.3-rc.4",
    "MMXXVI",
    "٣٢١",
    "१२३",
    "１２３",
    "৩৪৫",
    "๑๒๓",
    "3333333",
    "33333333",
    "1/2",
    "50%",
    "99.9%",
    "#1",
    "№ 5",
    "10km",
    "5kg",
    "3x",
    "x3",
    "A4",
    "H2O",
    "CO₂",
    "10⁻³",
    "2²",
    "1'000'000",
]

WHITESPACE = [
    " ",
    "  ",
    "   ",
    "    ",
    "        ",
    "\t",
    "\t\t",
    " \t ",
    "\u00a0",
    "\u00a0\u00a0",
    "\u3000",
    "\u2003",
    "\u2009",
    "\u202f",
    "\u200b",
    "\u200d",
    "\ufeff",
    " \u00a0 ",
]

EMOJI = [
    "😀",
    "🦙",
    "🚀",
    "✅",
    "❤️",
    "❤",
    "👍🏽",
    "👋🏿",
    "👨‍👩‍👧‍👦",
    "👩‍👩‍👧‍👦",
    "👩🏽‍💻",
    "🧑🏻‍🚀",
    "😶‍🌫️",
    "🏳️‍🌈",
    "🏴‍☠️",
    "🇻🇳",
    "🇯🇵",
    "🇫🇷",
    "🇺🇸",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "1️⃣",
    "#️⃣",
    "©️",
    "™",
    "🤷‍♀️",
    "🙆🏼‍♂️",
    "🫠",
    "🥲",
    "🫶🏾",
    "🐈‍⬛",
    "🐻‍❄️",
    "❤️‍🔥",
    "🧔🏻‍♀️",
    "👁️‍🗨️",
    "😁",
    "🌫️",
    "🦄",
    "🍜",
    "☕",
    "⚡",
]

HANDWRITTEN = [
    "ied 4 ½ months",
    "w048 7tuijk dsdfhu",
    "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～",
    "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)",
    "3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3",
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
    "    Hello    Hello",
    " ( =  == === ==== ' era",
    "Hello<|endoftext|>x <|im_start|>user<|im_end|> <|begin_of_text|> <s></s> [INST]",
    "a" * 120,
    "ab" * 60,
    "ლ" * 30,
    "😀" * 20,
    "..." * 30,
    "e\u0301 (decomposed é) n\u0303 (decomposed ñ) A\u030a (decomposed Å) ệ vs e\u0323\u0302",
    "Vie\u0302\u0323t Nam vie\u0301t ba\u0300ng chu\u031b\u0303 to\u0309 hơp (NFD)",
    "Ǆ ǅ ǆ ǈ ǋ — titlecase digraphs; ﬁ ﬂ — ligatures; \u212b \u00c5 — angstrom sign vs A-ring",
    "mixedCASEWordsLikeThisOneAndHTTPServerURLParser and snake_case_words_here",
    "ALLCAPS lowercase Titlecase camelCase PascalCase kebab-case SCREAMING_SNAKE",
    "tab\tseparated\tvalues\t1\t2\t3",
    "trailing spaces   ",
    "   leading spaces",
    "\t\tleading tabs",
    "sentence.Another sentence!Yet another?No space after punctuation,right;here:now",
    "https://www.example.org/path/to/page.html?query=tokenizer&lang=vi#section-2",
    "user.name+tag@example.co.uk, another_user@domain.io",
    "C:\\Users\\ada\\Documents\\file (1).txt and /usr/local/bin/python3.11",
    "«guillemets» „Anführungszeichen“ “curly quotes” ‘single’ 「かぎかっこ」 『二重』 《书名号》",
    "\u2126 \u03a9 \u212a K \u212b \u00c5 ℃ ℉ № ™ ℠ ℮ ⅍ ⅎ ↉ (ohm, kelvin, angstrom signs vs letters)",
    "ㄱㄴㄷ ㅏㅑㅓ 한 글 (jamo and syllables)",
    "ﷺ ﷽ ﻻ ﺍﻟﻠﻪ (Arabic presentation forms)",
    "𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄 𝔉𝔯𝔞𝔨𝔱𝔲𝔯 𝕯𝖔𝖚𝖇𝖑𝖊 𝟙𝟚𝟛 (mathematical alphanumerics)",
    "𠀀 𠜎 𡃁 𪚥 𰻞 (CJK extension characters outside the BMP)",
    "ᚠᚢᚦᚨᚱᚲ ᚷᚹ (runes) ꦗꦮ (Javanese) ᠮᠣᠩᠭᠣᠯ (Mongolian script)",
    "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇ (zalgo: stacked combining marks)",
]

SEPARATORS = [" ", "  ", ", ", " - ", " — ", "; ", "\t", " | ", ": ", " / ", "", "\u00a0", "   ", ". ", "! ", "? "]


def _words(text: str) -> list[str]:
    return [w for w in text.split(" ") if w]


def build() -> list[str]:
    rnd = random.Random(SEED)
    lines: list[str] = []
    all_sentences = [s for group in SENTENCES.values() for s in group]
    lines += all_sentences + CODE + HANDWRITTEN
    lines += [" ".join(NUMBERS[i : i + 8]) for i in range(0, len(NUMBERS), 8)]
    lines += ["".join(EMOJI[i : i + 10]) for i in range(0, len(EMOJI), 10)]
    lines += [f"word{ws}word{ws}{ws}end" for ws in WHITESPACE]
    words = {lang: [w for s in group for w in _words(s)] for lang, group in SENTENCES.items()}
    code_tokens = [t for line in CODE for t in line.split()]
    langs = sorted(words)
    # 1. every sentence with a number, an emoji and odd spacing around it
    for s in all_sentences:
        lines.append(f"{rnd.choice(NUMBERS)}{rnd.choice(SEPARATORS)}{s}{rnd.choice(WHITESPACE)}{rnd.choice(EMOJI)}")
    # 2. shuffled words of one language (new word orders, new neighbours for punctuation)
    for _ in range(500):
        lang = rnd.choice(langs)
        ws = rnd.sample(words[lang], k=min(len(words[lang]), rnd.randint(3, 12)))
        lines.append(rnd.choice([" ", " ", " ", "  ", "\t", ""]).join(ws))
    # 3. code-switched lines: fragments of several languages, numbers, emoji, code, whitespace runs
    pools = [
        lambda: rnd.choice(words[rnd.choice(langs)]),
        lambda: rnd.choice(NUMBERS),
        lambda: rnd.choice(EMOJI),
        lambda: rnd.choice(code_tokens),
        lambda: rnd.choice(WHITESPACE),
        lambda: rnd.choice(all_sentences)[:40],
    ]
    weights = [8, 3, 2, 2, 2, 1]
    for _ in range(1300):
        n = rnd.randint(2, 14)
        parts = [rnd.choices(pools, weights)[0]() for _ in range(n)]
        lines.append("".join(p + rnd.choice(SEPARATORS) for p in parts).rstrip("\n"))
    # 4. numbers glued to letters and punctuation, in every digit system
    for _ in range(200):
        a, b = rnd.choice(NUMBERS), rnd.choice(NUMBERS)
        lines.append(
            rnd.choice(["{a}{w}{b}", "{w}{a}", "{a}{w}", "({a}){w}[{b}]", "{w}:{a}-{b}", "{a}{a}{b}{b}"]).format(
                a=a, b=b, w=rnd.choice(words[rnd.choice(langs)])
            )
        )
    out = []
    for line in lines:
        line = line.replace("\r", " ").replace("\n", " ")
        if line.strip("\u200b\u200d\ufeff"):
            out.append(line)
    return out


def main() -> None:
    lines = build()
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} lines, {sum(map(len, lines)):,} characters to {OUT}")


if __name__ == "__main__":
    main()
