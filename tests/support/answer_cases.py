"""Hand-written extraction cases for tests/test_answers.py, in the datasets' real output styles.

Math outputs follow the GSM8K gold rationales ("<<48/2=24>>24", "#### 72"), the Codex/Wei et al.
CoT prompts ("... The answer is 72") and what small T5 students emit (one line, distractor numbers,
runaway "Q: ..." continuations). BBH outputs follow the Suzgun et al. CoT prompts ("Let's think step
by step. ... So the answer is (A).") and the gold targets (bare "(A)", "True", "] ) )").

Each case is (text, expected); BBH cases are (task, text, expected). None means "no answer".
"""

from __future__ import annotations

# A runaway continuation: the model starts the next exemplar after answering.
NEXT_QUESTION = (
    "\n\nQ: A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?"
    "\nA: Let's think step by step. It takes 2/2 = 1 bolt of white fiber. So the total is 2 + 1 = 3. The answer is 3."
)

MATH_CASES: list[tuple[str, float | None]] = [
    # --- "The answer is X" with distractor numbers before it
    ("The answer is 18", 18),
    ("The answer is 18.", 18),
    (
        "Janet sells 16 - 3 - 4 = 9 duck eggs a day. She makes 9 * 2 = $18 every day at the farmer's market. "
        "The answer is 18.",
        18,
    ),
    (
        "There are 15 trees originally. Then there were 21 trees after some more were planted. "
        "So there must have been 21 - 15 = 6. The answer is 6.",
        6,
    ),
    (
        "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. "
        "So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.",
        8,
    ),
    (
        "The squirrel steals 1/2 cup of birdseed every week, so the birds eat 2 - 1/2 = 1 1/2 cups of birdseed.\n"
        "Each cup feeds 14 birds, so Ivan's bird feeder feeds 14 * 1 1/2 = 21 birds weekly.\nThe answer is 21",
        21,
    ),
    (
        "Since there are 60 minutes in 1 hour, then 1.3 hours is equal to 1.3 x 60 = 78 minutes.\n"
        "Thus, Samuel is 78 – 30 = 48 minutes faster than Sarah.\nThe answer is 48",
        48,
    ),
    (
        "They want to study no more than 4 hours each day, 15 hours / 4 hours each day = 3.75 They will need "
        "to plan to study 4 days to allow for all the time they need. The answer is 4",
        4,
    ),
    ("A: The answer is 72", 72),
    ("the answer is 12", 12),
    ("THE ANSWER IS 12", 12),
    ("The answer is\n12", 12),
    ("The answer is: 42", 42),
    ("The final answer is 64.", 64),
    ("Answer: 64", 64),
    # --- GSM8K gold rationales: calculator notes and "#### N"
    (
        "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
        "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer’s market.\n#### 18",
        18,
    ),
    (
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
        72,
    ),
    ("It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total amount of fabric is 2+1=<<2+1=3>>3 bolts\n#### 3", 3),
    ("#### 1,450,000", 1450000),
    ("#### -10", -10),
    ("He lost 5,600 - 3,475 = <<5600-3475=2125>>2,125 dollars.\n#### 2,125", 2125),
    # --- Currency, thousands separators, decimals
    ("The answer is $1,234.50.", 1234.5),
    ("The answer is $120,000.", 120000),
    ("The answer is 1,000.", 1000),
    ("The answer is 10,800", 10800),
    ("The answer is 40,000.", 40000),
    ("The answer is 1,000,000 dollars", 1000000),
    ("The answer is $ 5", 5),
    ("The answer is 2.50.", 2.5),
    ("The answer is 0.5", 0.5),
    ("The answer is .25", 0.25),
    ("The answer is 3.75 hours", 3.75),
    ("The answer is 0.125 kg of flour.", 0.125),
    ("The total is 2,125 dollars.", 2125),
    ("The answer is 5 dollars and 50 cents", 5),
    ("The answer is 18 dollars", 18),
    # --- Negatives
    ("-3", -3),
    ("The answer is -3", -3),
    ("The answer is −7", -7),
    ("The temperature dropped 12 degrees from 2 degrees, to -10 degrees. The answer is -10.", -10),
    ("The answer is -$5", -5),
    ("So the balance is 10-3=7", 7),
    # --- Percent
    ("50%", 50),
    ("The answer is 50%.", 50),
    ("The answer is 33.33%", 33.33),
    ("The answer is 100 percent", 100),
    ("He saves 20% of $500, which is $100. The answer is 100", 100),
    # --- Fractions and mixed numbers
    ("The answer is 3/4 cup.", 0.75),
    ("The answer is 1 1/2 cups of flour.", 1.5),
    ("The answer is 3 1/4 miles.", 3.25),
    ("The answer is 1/3.", 1 / 3),
    ("The answer is 7/2", 3.5),
    ("She has 2 - 1/2 = 1 1/2 cups left.", 1.5),
    ("Each pays 120 / 4 = 30 dollars.", 30),
    # --- Units and trailing words
    ("The answer is 21 birds weekly.", 21),
    ("The answer is 8 hours, which is 480 minutes.", 8),
    ("The answer is 15 (5 + 10).", 15),
    ("9 (apples)", 9),
    # --- Expressions after the marker
    ("The answer is 5 + 4 = 9.", 9),
    ("The answer is 6 + 4 + 2 = 12 apples. Q: How many apples does Sam have left?", 12),
    # --- Several markers and runaway continuations: the first answer counts
    ("The answer is 7. The answer is 9.", 7),
    ("The answer is 18 eggs. The answer is 9 eggs.", 18),
    ("The answer is 18." + NEXT_QUESTION, 18),
    ("So he made 90 - 40 = 50 dollars profit.\nThe answer is 50\n\nQuestion: A train travels 60 miles per hour.", 50),
    ("He bought 3 packs of 12 eggs, so 3 x 12 = 36 eggs." + NEXT_QUESTION, 36),
    ("The answer is 50. 50% of 100 is 50", 50),
    # --- No marker: the last number (the original code's rule)
    ("He bought 3 packs of 12 eggs, so 3 x 12 = 36 eggs.", 36),
    ("It will take 1.3 x 60 = 78 minutes", 78),
    ("18", 18),
    ("18.0", 18),
    ("  42  ", 42),
    # --- Numbers written in words
    ("The answer is twelve.", 12),
    ("The answer is one hundred and five.", 105),
    ("twenty-five", 25),
    ("He needs 4 days. The answer is four", 4),
    ("Twelve.", 12),
    # --- No answer at all
    ("I don't know.", None),
    ("", None),
    ("The answer is no.", None),
    ("None of the numbers work.", None),
    ("Let's think step by step. She has some apples and gives some away.", None),
]

# (answer, another answer of the same type) pairs for the shared phrasing templates below.
PHRASINGS: list[tuple[str, str]] = [
    ("So the answer is {a}.", "{a}"),
    ("so the answer is {a}", "{a}"),
    ("So the answer is: {a}", "{a}"),
    ("So, the answer is {a}.", "{a}"),
    ("Therefore, the answer is {a}.", "{a}"),
    ("The answer is {a}.", "{a}"),
    ("Answer: {a}", "{a}"),
    ("So the answer is {a}.\n\nQ: The next question.\nA: Let's think step by step. So the answer is {b}.", "{a}"),
    ("So the answer is {a}. Q: The next question. A: Let's think step by step. So the answer is {b}.", "{a}"),
    ("Let's think step by step. So the answer is {a}. So the answer is {b}.", "{a}"),
    ("So the answer is\n{a}", "{a}"),
    ('So the answer is "{a}".', "{a}"),
    ("So the answer is **{a}**.", "{a}"),
    ("{a}", "{a}"),
]


def phrased(task: str, answer: str, other: str) -> list[tuple[str, str, str]]:
    """`answer` in every phrasing of PHRASINGS, with `other` as the later (ignored) answer."""
    return [(task, text.format(a=answer, b=other), expected.format(a=answer)) for text, expected in PHRASINGS]


MULTIPLE_CHOICE_CASES: list[tuple[str, str, str | None]] = [
    *phrased("date_understanding", "(D)", "(B)"),
    *phrased("geometric_shapes", "(K)", "(C)"),
    # --- Real CoT styles, distractor letters in the reasoning
    (
        "date_understanding",
        "Let's think step by step. If today is Christmas Eve of 1937, then today's date is December 24, 1937. "
        "10 days before today is December 14, 1937, that is 12/14/1937. So the answer is (D).",
        "(D)",
    ),
    (
        "disambiguation_qa",
        'Here we need to determine who the pronoun "they" might be referring to. There are two possible referents '
        'for "they", namely the chief and the counselor. Option (B) fits. So the answer is (A).',
        "(A)",
    ),
    (
        "tracking_shuffled_objects_three_objects",
        "(0) At the start: Alice: yellow, Bob: blue, Claire: pink. (1) Claire and Alice swap balls: Alice: pink, "
        "Bob: blue, Claire: yellow. At the end of the dance, Alice has the pink ball. So the answer is (C).",
        "(C)",
    ),
    (
        "tracking_shuffled_objects_seven_objects",
        "(0) At the start: Alice: Frankenstein, Bob: Moby Dick. (7) Eve and Gertrude swap books. So the answer is (G).",
        "(G)",
    ),
    (
        "penguins_in_a_table",
        "This question focuses on age. We know the following: Louis is 7 years old, Bernard is 5 years old. "
        "So the answer is (B).",
        "(B)",
    ),
    (
        "salient_translation_error_detection",
        "We solve this question by first translating the source sentence to English and then by comparing our "
        "translation with the provided translation. Because a negation is removed, the error is Negation or "
        "Antonyms. So the answer is (C).",
        "(C)",
    ),
    ("movie_recommendation", "Options (A) and (B) are action movies. So the answer is (C) The Lion King.", "(C)"),
    (
        "temporal_sequences",
        "So the answer is (D)\n\nQ: Today, Susan went to the coffee shop. So the answer is (A).",
        "(D)",
    ),
    ("penguins_in_a_table", "So the answer is (B). Q: Here is a table where the first line is a header. (D)", "(B)"),
    # --- Letter forms
    ("hyperbaton", "(A)", "(A)"),
    ("hyperbaton", "(B).", "(B)"),
    ("hyperbaton", " (C) ", "(C)"),
    ("snarks", "A", "(A)"),
    ("snarks", "(a)", "(A)"),
    ("snarks", "a.", "(A)"),
    ("temporal_sequences", "So the answer is (a).", "(A)"),
    ("logical_deduction_three_objects", "So the answer is A.", "(A)"),
    ("logical_deduction_three_objects", "So the answer is B", "(B)"),
    ("logical_deduction_five_objects", "So the answer is option C.", "(C)"),
    ("logical_deduction_five_objects", "So the answer is option (D).", "(D)"),
    ("logical_deduction_five_objects", "So the answer is choice B.", "(B)"),
    ("logical_deduction_seven_objects", "So the answer is C) The owl is the leftmost.", "(C)"),
    ("movie_recommendation", "B) Maelstrom", "(B)"),
    ("movie_recommendation", "b) maelstrom", "(B)"),
    ("movie_recommendation", "So the answer is (B) Maelstrom.", "(B)"),
    ("date_understanding", "So the answer is (B) 12/12/2019.", "(B)"),
    ("geometric_shapes", "So the answer is (I).", "(I)"),
    ("geometric_shapes", "So the answer is I.", "(I)"),
    ("geometric_shapes", "So the answer is I think (F).", "(F)"),
    ("reasoning_about_colored_objects", "So the answer is (Q).", "(Q)"),
    ("reasoning_about_colored_objects", "So the answer is (R).", "(R)"),
    ("snarks", "So the answer is (B), not (A).", "(B)"),
    ("snarks", "So the answer is (A). So the answer is (B).", "(A)"),
    ("ruin_names", "So the answer is the bark knight rises (A).", "(A)"),
    ("ruin_names", "So the answer is (A) or (C).", "(A)"),
    ("ruin_names", "So the answer is the bark knight rises (A) or the dork knight rises (C).", None),
    ("ruin_names", 'So the answer is - (A) "ruin man"', "(A)"),
    # --- Free-text answers (three gold targets are option texts)
    ("movie_recommendation", "So the answer is Monsters, Inc.", "Monsters, Inc"),
    ("ruin_names", "So the answer is dearth, wind, & fire.", "dearth, wind, & fire"),
    ("date_understanding", "So the answer is 12/12/2019.", "12/12/2019"),
    # --- No answer
    ("snarks", "", None),
    ("snarks", "So the answer is", None),
    ("snarks", "So the answer is .", None),
    ("hyperbaton", "Options (A) and (B) are both wrong.", None),
    ("hyperbaton", "Let's think step by step. The first option (A) uses opinion before size.", None),
    ("hyperbaton", "There is no answer.", None),
    ("hyperbaton", "A man in a car.", None),
    ("movie_recommendation", "Monsters, Inc", None),  # a bare text: only the gold postprocessor keeps it
]

TRUE_FALSE_CASES: list[tuple[str, str, str | None]] = [
    *phrased("boolean_expressions", "False", "True"),
    *phrased("boolean_expressions", "True", "False"),
    (
        "boolean_expressions",
        "Remember that (i) expressions inside brackets are always evaluated first and that (ii) the order of "
        'operations from highest priority to lowest priority is "not", "and", "or", respectively. We first '
        'simplify this expression "Z" as follows: "Z = not ( ( not not True ) ) = not ( ( A ) )" where '
        '"A = not not True". Let\'s evaluate A: A = not not True = not (not True) = not False = True. Plugging '
        "in A, we get: Z = not ( ( A ) ) = not ( ( True ) ) = not True = False. So the answer is False.",
        "False",
    ),
    (
        "boolean_expressions",
        "Let's evaluate A: A = True and False = False. Let's evaluate B: B = not True or ( False ) = False. "
        "Plugging in A and B, we get: Z = A and B = False and False = False. So the answer is False.",
        "False",
    ),
    ("boolean_expressions", "A = not False = True. So the answer is True.", "True"),
    ("boolean_expressions", "True", "True"),
    ("boolean_expressions", "False", "False"),
    ("boolean_expressions", "true", "True"),
    ("boolean_expressions", "FALSE", "False"),
    ("boolean_expressions", "True.", "True"),
    ("boolean_expressions", " False ", "False"),
    ("boolean_expressions", "So the answer is true", "True"),
    ("boolean_expressions", "So the answer is TRUE.", "True"),
    ("boolean_expressions", "So the answer is False, because not True is False.", "False"),
    ("boolean_expressions", "So the answer is True and False", "True"),
    ("boolean_expressions", "So the answer is False.\n\nQ: True and not not ( not False ) is\nA: True", "False"),
    ("boolean_expressions", "So the answer is True. Q: not ( True ) and ( True ) is A: False", "True"),
    ("boolean_expressions", "False. Q: not not ( not ( False ) ) is A: So the answer is True.", "False"),
    ("boolean_expressions", "So the answer is - True", "True"),
    ("boolean_expressions", "So the answer is 'False'.", "False"),
    ("boolean_expressions", "answer: False", "False"),
    ("boolean_expressions", "So the answer is ( False )", None),
    ("boolean_expressions", "So the answer is not True.", None),
    ("boolean_expressions", "So the answer is that it is True.", None),
    ("boolean_expressions", "So the answer is Truth.", None),
    ("boolean_expressions", "So the answer is Falsely stated.", None),
    ("boolean_expressions", "So the answer is 1.", None),
    ("boolean_expressions", "So the answer is Yes.", None),
    ("boolean_expressions", "So the answer is", None),
    ("boolean_expressions", "", None),
    ("boolean_expressions", "not ( True ) and ( True ) is False", None),
    ("boolean_expressions", "Z = True and False = False.", None),
    ("boolean_expressions", "Let's think step by step. We first simplify this expression.", None),
    ("boolean_expressions", "So the answer is False.So the answer is True.", "False"),
    ("boolean_expressions", "Z = A or B = True or False = True. So the answer is True. Z is True.", "True"),
    ("boolean_expressions", "A: Let's think step by step. not ( False ) is True. So the answer is True.", "True"),
    ("boolean_expressions", "So the answer is ⁇ True", None),
]

YES_NO_CASES: list[tuple[str, str, str | None]] = [
    *phrased("causal_judgement", "No", "Yes"),
    *phrased("navigate", "Yes", "No"),
    (
        "causal_judgement",
        'Here in this question, we are told that "Frank T. had no experience with guns, his hand slipped on '
        'the barrel of the gun, and the shot went wild." A typical person would assume that this passage '
        "suggests that Frank T. had no intention of shooting and injuring someone. So the answer is No.",
        "No",
    ),
    (
        "causal_judgement",
        "Here in this question, we are told that the boss is bad and does not care about the environment. "
        "Yes, the program was started. A typical person would assume he did it intentionally. So the answer is Yes.",
        "Yes",
    ),
    (
        "navigate",
        "We start at the origin (0, 0), facing the positive y-axis. (1) Always face forward: (0, 0), facing the "
        "positive y-axis. (2) Take 1 step backward: (0, -1), facing the positive y-axis. (3) Take 1 step forward: "
        "(0, 0). Since (0, 0) is (0, 0), we are indeed where we started. So the answer is Yes.",
        "Yes",
    ),
    (
        "navigate",
        "We start at the origin (0, 0), facing the positive y-axis. (1) Take 3 steps: (0, 3). (2) Take 6 steps: "
        "(0, 9). Since (0, 9) is not (0, 0), we are not where we started. So the answer is No.",
        "No",
    ),
    (
        "web_of_lies",
        "(1) Fidel lies. So, we know that Fidel lies. (2) Jerry says Fidel tells the truth. Since we know from (1) "
        "that Fidel lies, if Jerry says Fidel tells the truth, then Jerry lies. (3) Vina says Jerry tells the truth. "
        "Does Vina tell the truth? No. So the answer is No.",
        "No",
    ),
    (
        "web_of_lies",
        "(1) Kristian tells the truth. (2) Michaela says Kristian lies. So, Michaela lies. (3) Raymond says "
        "Michaela tells the truth. So, Raymond lies. Now, the question asks: Does Osvaldo tell the truth? We "
        "know from (4) that Osvaldo tells the truth. So the answer is Yes.",
        "Yes",
    ),
    ("web_of_lies", "Yes", "Yes"),
    ("web_of_lies", "No", "No"),
    ("web_of_lies", "yes", "Yes"),
    ("web_of_lies", "NO", "No"),
    ("web_of_lies", "No.", "No"),
    ("web_of_lies", "So the answer is Yes, she tells the truth.", "Yes"),
    ("web_of_lies", "So the answer is no", "No"),
    ("navigate", "So the answer is YES.", "Yes"),
    ("navigate", "So the answer is - No", "No"),
    (
        "navigate",
        "Yes. Q: If you follow these instructions, do you return to the starting point? So the answer is No.",
        "Yes",
    ),
    ("causal_judgement", "So the answer is No.\n\nQ: How would a typical person answer?\nA: Yes", "No"),
    ("causal_judgement", "So the answer is not yes", None),
    ("causal_judgement", "So the answer is that there is no way to tell.", None),
    ("causal_judgement", "So the answer is Nope.", None),
    ("causal_judgement", "So the answer is Yesterday.", None),
    ("causal_judgement", "So the answer is True.", None),
    ("causal_judgement", "So the answer is (A) Yes", None),
    ("causal_judgement", "So the answer is", None),
    ("causal_judgement", "", None),
    ("navigate", "We start at the origin (0, 0), facing the positive y-axis.", None),
    ("navigate", "Since (0, 9) is not (0, 0), we are not where we started.", None),
    ("web_of_lies", "So the answer is Yes.So the answer is No.", "Yes"),
    ("web_of_lies", "(5) Millicent says Osvaldo lies. So, Millicent lies. So the answer is No. Yes, I am sure.", "No"),
    ("navigate", "So the answer is yes, we return to the starting point.", "Yes"),
    ("navigate", "So the answer is No (we end at (0, -3)).", "No"),
    ("navigate", "So the answer is 'Yes'.", "Yes"),
    ("causal_judgement", "A typical person would answer Yes. So the answer is No.", "No"),
    ("causal_judgement", "So the answer is yes and no.", "Yes"),
    ("causal_judgement", "So the answer is maybe.", None),
    ("causal_judgement", "No one would say that.", "No"),  # answer-only reading: the leading word
    ("web_of_lies", "Does Vina tell the truth? No.", None),
]

PLAUSIBILITY_CASES: list[tuple[str, str, str | None]] = [
    *phrased("sports_understanding", "yes", "no"),
    *phrased("sports_understanding", "no", "yes"),
    (
        "sports_understanding",
        "Bam Adebayo is an American basketball player. Scoring a reverse layup in the Western Conference Finals "
        "is part of the NBA Finals. So the answer is yes.",
        "yes",
    ),
    (
        "sports_understanding",
        "Santi Cazorla is a soccer player. Touchdown is part of American football and rugby. So the answer is no.",
        "no",
    ),
    (
        "sports_understanding",
        "DeMar DeRozan is an American basketball player. Goal tending is part of basketball. So the answer is yes.",
        "yes",
    ),
    (
        "sports_understanding",
        "Joao Moutinho is a soccer player. Being out at third is part of baseball, not soccer. It is no surprise. "
        "So the answer is no.",
        "no",
    ),
    ("sports_understanding", "yes", "yes"),
    ("sports_understanding", "no", "no"),
    ("sports_understanding", "Yes", "yes"),
    ("sports_understanding", "NO.", "no"),
    ("sports_understanding", "So the answer is Yes.", "yes"),
    ("sports_understanding", "So the answer is plausible.", "yes"),
    ("sports_understanding", "So the answer is Plausible", "yes"),
    ("sports_understanding", "So the answer is implausible.", "no"),
    ("sports_understanding", "So the answer is not plausible.", "no"),
    ("sports_understanding", "So the answer is unplausible.", "no"),
    ("sports_understanding", "So the answer is that the sentence is implausible.", "no"),
    ("sports_understanding", "So the answer is that it is plausible", "yes"),
    ("sports_understanding", "So the answer is that the sentence is not plausible.", "no"),
    ("sports_understanding", "So the answer is plausible, not implausible.", "yes"),
    ("sports_understanding", "plausible", "yes"),
    ("sports_understanding", "implausible.", "no"),
    (
        "sports_understanding",
        "So the answer is yes. Q: Is the following sentence plausible? So the answer is no.",
        "yes",
    ),
    ("sports_understanding", "So the answer is that it is neither plausible nor implausible.", None),
    ("sports_understanding", "So the answer is that there is no way to tell.", None),
    ("sports_understanding", "So the answer is nobody knows.", None),
    ("sports_understanding", "So the answer is plausibly.", None),
    ("sports_understanding", "So the answer is (A)", None),
    ("sports_understanding", "So the answer is", None),
    ("sports_understanding", "", None),
    ("sports_understanding", "the sentence is plausible", None),
    ("sports_understanding", "Bam Adebayo is an American basketball player.", None),
    ("sports_understanding", "So the answer is yes, it is plausible.", "yes"),
    ("sports_understanding", "So the answer is no, because touchdowns are in football.", "no"),
    ("sports_understanding", "So the answer is Not plausible", "no"),
    ("sports_understanding", "So the answer is maybe.", None),
]

VALID_INVALID_CASES: list[tuple[str, str, str | None]] = [
    *phrased("formal_fallacies", "valid", "invalid"),
    *phrased("formal_fallacies", "invalid", "valid"),
    (
        "formal_fallacies",
        "(1) Lesley is a close friend of Fernando: Lesley = friend(Fernando). (2) Being a close friend of "
        "Fernando or a schoolmate of Lowell is sufficient for being a great-grandfather of Leroy: If X = "
        "friend(Fernando) OR SCHOOLMATE(Lowell), then X = great-grandfather(Leroy). Hypothesis: Does it follow "
        "that Lesley is a great-grandfather of Leroy? So, it is true that Lesley is a great-grandfather of Leroy. "
        "So the answer is valid.",
        "valid",
    ),
    (
        "formal_fallacies",
        "(1) Whoever is not a great-grandfather of Clyde is a stepbrother of Brian. Hypothesis: Does it follow "
        "that everyone who is an ancestor of Dana is a stepbrother of Brian, too? The argument would be valid "
        "only if ... So, the answer is invalid.",
        "invalid",
    ),
    (
        "formal_fallacies",
        "(1) Every infrequent user of Paul Mitchell shampoo is either a rare consumer of Nioxin shampoo or a loyal "
        "buyer of Caress soap, or both. By (1), we have if X = infrequent-user(Paul Mitchell) then X = "
        "rare-consumer(Nioxin) OR X = loyal-buyer(Caress). So it is not valid. So the answer is invalid.",
        "invalid",
    ),
    ("formal_fallacies", "valid", "valid"),
    ("formal_fallacies", "invalid", "invalid"),
    ("formal_fallacies", "Valid.", "valid"),
    ("formal_fallacies", "INVALID", "invalid"),
    ("formal_fallacies", "- invalid", "invalid"),
    ("formal_fallacies", "So the answer is Valid.", "valid"),
    ("formal_fallacies", "So the answer is not valid.", "invalid"),
    ("formal_fallacies", "So the answer is that the argument is deductively valid.", "valid"),
    ("formal_fallacies", "So the answer is that the argument is invalid", "invalid"),
    ("formal_fallacies", "So the answer is the argument is not valid.", "invalid"),
    ("formal_fallacies", "So the answer is valid, not invalid.", "valid"),
    ("formal_fallacies", "So the answer is - valid", "valid"),
    (
        "formal_fallacies",
        "So the answer is invalid.\n\nQ: Is the argument, given the explicitly stated premises?",
        "invalid",
    ),
    ("formal_fallacies", "invalid. Q: Here comes a perfectly valid argument. So the answer is valid.", "invalid"),
    ("formal_fallacies", "So the answer is that it is neither valid nor invalid.", None),
    ("formal_fallacies", "So the answer is invalidated.", None),
    ("formal_fallacies", "So the answer is validity.", None),
    ("formal_fallacies", "So the answer is yes.", None),
    ("formal_fallacies", "So the answer is", None),
    ("formal_fallacies", "", None),
    ("formal_fallacies", "The argument is valid.", None),
    ("formal_fallacies", "(1) Lesley is a close friend of Fernando: Lesley = friend(Fernando).", None),
    ("formal_fallacies", "Whether the argument is valid or invalid depends on the premises.", None),
    ("formal_fallacies", "So the answer is true.", None),
    ("formal_fallacies", "So the answer is valid.So the answer is invalid.", "valid"),
    ("formal_fallacies", 'So the answer is "invalid".', "invalid"),
    ("formal_fallacies", "So the answer is Not Valid.", "invalid"),
    ("formal_fallacies", "So the answer is that the argument is deductively invalid, not valid.", "invalid"),
    ("formal_fallacies", "So the answer is (A) valid", "valid"),
    ("formal_fallacies", "Options: - valid - invalid. So the answer is invalid.", "invalid"),
    ("formal_fallacies", "not valid", "invalid"),
]

NUMBER_CASES: list[tuple[str, str, str | None]] = [
    *phrased("multistep_arithmetic_two", "-219", "123"),
    *phrased("object_counting", "8", "6"),
    (
        "multistep_arithmetic_two",
        "Let's recall that the order of operations in mathematics is as follows: (1) Parentheses, (2) exponents, "
        "(3) multiplication and division (from left to right), (4) addition and multiplication (from left to "
        'right). This equation can be written as "A * B", where A = (-8 + -2 * -9 - 3) and B = (4 + -5 * -7 * 4). '
        "Let's calculate A = (-8 + 18 - 3) = 7. Let's calculate B = (4 + 140) = 144. Then, the final equation is "
        "A * B = 7 * 144 = 1008. So the answer is 1008.",
        "1008",
    ),
    (
        "multistep_arithmetic_two",
        'This equation can be written as "A - B", where A = (-9 * 7 * 7 * -9) and B = (4 * -9 - 8 - -4). '
        "Then, the final equation is A - B = 3969 - -40 = 4009. So the answer is 4009.",
        "4009",
    ),
    (
        "object_counting",
        "We first identify the musical instruments on the list and include their quantity in parentheses: - flute "
        "(1) - piano (1) - trombone (1) - violin (1) - accordion (1) - clarinet (1) - drum (1) - trumpet (1) "
        "Now, let's add the numbers in parentheses: 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 = 8. So the answer is 8.",
        "8",
    ),
    (
        "object_counting",
        "We first identify the vegetables on the list: - cabbage (1) - garlic (1) - stalks of celery (4) - yam (1) "
        "- carrot (2) Now, let's add the numbers in parentheses: 1 + 1 + 4 + 1 + 2 = 9. So the answer is 9.",
        "9",
    ),
    ("multistep_arithmetic_two", "-35", "-35"),
    ("multistep_arithmetic_two", "24", "24"),
    ("multistep_arithmetic_two", "0", "0"),
    ("multistep_arithmetic_two", "-0", "0"),
    ("multistep_arithmetic_two", "So the answer is 3929.", "3929"),
    ("multistep_arithmetic_two", "So the answer is 3,929.", "3929"),
    ("multistep_arithmetic_two", "So the answer is −35.", "-35"),
    ("multistep_arithmetic_two", "So the answer is 24.0", "24"),
    ("multistep_arithmetic_two", "So the answer is A * B = 7 * 3 = 21.", "21"),
    ("multistep_arithmetic_two", "So the answer is (-8) + (-12) = -20.", "-20"),
    ("multistep_arithmetic_two", "So the answer is -5.\n\nQ: ((3 - 4) * (5 + 6)) =\nA: -11", "-5"),
    ("multistep_arithmetic_two", "-11 Q: ((3 - 4) * (5 + 6)) = A: So the answer is -11.", "-11"),
    ("multistep_arithmetic_two", "So the answer is 2.5.", "2.5"),
    ("object_counting", "So the answer is eight.", "8"),
    ("object_counting", "So the answer is twenty-one.", "21"),
    ("object_counting", "So the answer is zero.", "0"),
    ("object_counting", "So the answer is 8 instruments.", "8"),
    ("object_counting", "So the answer is: 11", "11"),
    ("object_counting", "So the answer is 12. Q: I have three apples and a banana.", "12"),
    ("object_counting", "8", "8"),
    ("object_counting", "11.", "11"),
    ("object_counting", "eleven", "11"),
    ("object_counting", "So the answer is unknown.", None),
    ("object_counting", "So the answer is (A)", None),
    ("object_counting", "So the answer is", None),
    ("object_counting", "", None),
    ("object_counting", "I have a flute, a piano and a trombone.", None),
    ("object_counting", "So the answer is 6.So the answer is 7.", "6"),
    ("object_counting", "So the answer is 3 + 2 + 1 = 6 fruits.", "6"),
    ("object_counting", "So the answer is one hundred.", "100"),
    ("multistep_arithmetic_two", "So the answer is $-219$.", "-219"),
    ("multistep_arithmetic_two", "So the answer is 1,008", "1008"),
]

WORD_LIST_CASES: list[tuple[str, str, str | None]] = [
    *phrased("word_sorting", "costume counterpart oven", "credulity phone"),
    *phrased("word_sorting", "arson aspect census mugho newt parthia seismography", "oven"),
    (
        "word_sorting",
        'The first letter: "oven": "o" (15). "costume": "c" (3). "counterpart": "c" (3). We now have: (3) '
        '["costume" ? "counterpart"] < (15) "oven". Now let\'s sort this subpart ["costume" ? "counterpart"] by '
        'looking at their second letters. Hence, we have ["costume" < "counterpart"] < "oven". So the answer is '
        "costume counterpart oven.",
        "costume counterpart oven",
    ),
    (
        "word_sorting",
        'The first letter: "hypochlorite": "h" (8). "ponderosa": "p" (16). "phone": "p" (16). "credulity": "c" '
        '(3). Hence, we have "credulity" < "hypochlorite" < ["phone" <"ponderosa"]. So the answer is credulity '
        "hypochlorite phone ponderosa.",
        "credulity hypochlorite phone ponderosa",
    ),
    ("word_sorting", "syndrome therefrom", "syndrome therefrom"),
    ("word_sorting", "So the answer is Arson Aspect Census.", "arson aspect census"),
    ("word_sorting", "So the answer is arson, aspect, census.", "arson aspect census"),
    ("word_sorting", 'So the answer is "arson" "aspect" "census".', "arson aspect census"),
    ("word_sorting", "So the answer is 'bootlegging' 'indifferent' 'trainman'.", "bootlegging indifferent trainman"),
    ("word_sorting", 'So the answer is ["costume", "counterpart", "oven"].', "costume counterpart oven"),
    ("word_sorting", "So the answer is syndrome   therefrom.", "syndrome therefrom"),
    ("word_sorting", "So the answer is: bootlegging indifferent trainman", "bootlegging indifferent trainman"),
    ("word_sorting", "So the answer is o'connell phony poole.", "o'connell phony poole"),
    ("word_sorting", "So the answer is barn damp it&t malton r&d.", "barn damp it&t malton r&d"),
    ("word_sorting", "So the answer is shouldn't skintight swept you've z's.", "shouldn't skintight swept you've z's"),
    (
        "word_sorting",
        "So the answer is indoeuropean paginate.\n\nQ: Sort the following words alphabetically.",
        "indoeuropean paginate",
    ),
    ("word_sorting", "So the answer is covalent epsilon. Hence the list is sorted.", "covalent epsilon"),
    ("word_sorting", "So the answer is costume < counterpart < oven.", None),
    ("word_sorting", "So the answer is .", None),
    ("word_sorting", "So the answer is", None),
    ("word_sorting", "", None),
    ("word_sorting", 'The first letter: "oven": "o" (15). "costume": "c" (3).', None),
    ("word_sorting", "So the answer is (A).", None),
    ("word_sorting", "So the answer is costume counterpart oven.So the answer is oven.", "costume counterpart oven"),
    ("word_sorting", "So the answer is COSTUME COUNTERPART OVEN", "costume counterpart oven"),
    ("word_sorting", "So the answer is costume, counterpart, and oven.", "costume counterpart and oven"),
    ("word_sorting", "So the answer is `costume` `counterpart` `oven`.", "costume counterpart oven"),
    ("word_sorting", "So the answer is well-known xylem.", "well-known xylem"),
    ("word_sorting", "So the answer is hello\nworld", "hello"),
    ("word_sorting", "So the answer is costume counterpart oven (sorted).", None),
    ("word_sorting", "So the answer is costume: counterpart oven.", None),
    ("word_sorting", "So the answer is costume ⁇  oven.", None),
    ("word_sorting", "Sort the following words alphabetically: List: oven costume", None),
    ("word_sorting", "So the answer is 1. costume 2. counterpart", None),
]

DYCK_CASES: list[tuple[str, str, str | None]] = [
    *phrased("dyck_languages", "] } ]", "]"),
    *phrased("dyck_languages", ") >", "}"),
    (
        "dyck_languages",
        "We should process each input one by one and keep track of the stack configuration. 0: empty stack 1: [ ; "
        "stack: [ 2: { ; stack: [ { 3: [ ; stack: [ { [ Now, we have reached the end. The final stack is "
        '"[ { [". We will need to pop out "[", "{", "[" one by one in that order. So, we need "]", "}", "]". So '
        "the answer is ] } ].",
        "] } ]",
    ),
    (
        "dyck_languages",
        "0: empty stack\n1: > ; stack: empty\n3: ( ; stack: (\n15: ] ; stack: ( ( [\nNow, we have reached the "
        'end. The final stack is "( ( [".\nWe will need to pop out "[", "(", "(" one by one in that order.\n'
        'So, we need "]", ")", ")". So the answer is ] ) ).',
        "] ) )",
    ),
    ("dyck_languages", "] ]", "] ]"),
    ("dyck_languages", ")", ")"),
    ("dyck_languages", "> ]", "> ]"),
    ("dyck_languages", "] ) ) >", "] ) ) >"),
    ("dyck_languages", "So the answer is } ] >.", "} ] >"),
    ("dyck_languages", "So the answer is ]}].", "] } ]"),
    ("dyck_languages", "So the answer is ]  ) .", "] )"),
    ("dyck_languages", 'So the answer is: ") >"', ") >"),
    ("dyck_languages", "So the answer is ) ) ) ) ) ) ) ) ).", ") ) ) ) ) ) ) ) )"),
    ("dyck_languages", "So the answer is ] ) ). Q: Complete the rest of the sequence. So the answer is }.", "] ) )"),
    ("dyck_languages", "So the answer is ] ) ) - the stack is now empty.", "] ) )"),
    # The T5 vocabulary has no "{", "}" or "<": decoding "] } ]" gives "]  ⁇  ]" and the run stops.
    ("dyck_languages", "So the answer is ]  ⁇  ].", "]"),
    ("dyck_languages", "So the answer is [ { [ ] } ].", None),
    ("dyck_languages", "So the answer is ( ).", None),
    ("dyck_languages", "So the answer is none.", None),
    ("dyck_languages", "So the answer is .", None),
    ("dyck_languages", "So the answer is", None),
    ("dyck_languages", "", None),
    ("dyck_languages", "We should process each input one by one and keep track of the stack configuration.", None),
    ("dyck_languages", "So the answer is (A).", None),
    ("dyck_languages", "So the answer is ] } ].So the answer is ).", "] } ]"),
    ("dyck_languages", "So the answer is ] ) ) >.", "] ) ) >"),
    ("dyck_languages", "So the answer is > > > ].", "> > > ]"),
    ("dyck_languages", "So the answer is } } }", "} } }"),
    ("dyck_languages", "So the answer is )\n\nQ: Complete the rest of the sequence. Input: ( [", ")"),
    ("dyck_languages", "So the answer is\n] ]", "] ]"),
    ("dyck_languages", "So the answer is `] ]`.", "] ]"),
    ("dyck_languages", "So the answer is: ]", "]"),
    ("dyck_languages", "} ] >.", "} ] >"),
    ("dyck_languages", "So the answer is the closing bracket ].", None),
    ("dyck_languages", 'So the answer is "[".', None),
    ("dyck_languages", "[ [", None),
]

BBH_CASES: dict[str, list[tuple[str, str, str | None]]] = {
    "multiple_choice": MULTIPLE_CHOICE_CASES,
    "true_false": TRUE_FALSE_CASES,
    "yes_no": YES_NO_CASES,
    "plausibility": PLAUSIBILITY_CASES,
    "valid_invalid": VALID_INVALID_CASES,
    "number": NUMBER_CASES,
    "word_list": WORD_LIST_CASES,
    "dyck": DYCK_CASES,
}
