"""sha256 and public source of every file in the data directory, from its MANIFEST.md.

Kept apart from `data_dir` because it is data about data: 127 entries, one per file the shared
data folder ships. A file listed here is verified on first use, so a truncated download or a
locally edited copy fails loudly (naming the file and where to get it) instead of silently
changing every number computed from it.
"""

from __future__ import annotations

# relative path -> (sha256, public source)
KNOWN_FILES: dict[str, tuple[str, str]] = {
    "addsub/AddSub.json": (
        "21930fa90385c72b5a15f4b9a4dda27276b889ae9ff44285505cdd9fa0a20df8",
        "github.com/kojima-takeshi188/zero_shot_cot @ 5ef330fc, dataset/AddSub/AddSub.json",
    ),
    "asdiv/ASDiv.xml": (
        "ef8904068482919ac48c8eeaaf6df344b8a308ba66d048c2d4d87eab82dc4929",
        "github.com/chaochun/nlu-asdiv-dataset @ 883f90a9, dataset/ASDiv.xml",
    ),
    "asdiv/LICENSE.pal-repo.source": (
        "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
        "github.com/reasoning-machines/pal @ f81ca2a9, LICENSE",
    ),
    "asdiv/asdiv_2096_pal.jsonl": (
        "6fb7347f20b2393e5f877573b0adacb7ac8f4ea15e52e39ed60803ed6ecd3cb6",
        "github.com/reasoning-machines/pal @ f81ca2a9, datasets/asdiv.jsonl",
    ),
    "asdiv/nfolds/asdiv-a/fold0.txt": (
        "1e4e8c670e461e9d59beee13e64e28d7f92e3be8ba6766d3bbeb40818e03e8d6",
        "github.com/chaochun/nlu-asdiv-dataset @ 883f90a9, dataset/nfolds/asdiv-a/fold0.txt",
    ),
    "asdiv/nfolds/asdiv-a/fold1.txt": (
        "81bb372c89696d8d0a253d8ac73500208a801c35670112d682c2f2306ef35fd2",
        "github.com/chaochun/nlu-asdiv-dataset @ 883f90a9, dataset/nfolds/asdiv-a/fold1.txt",
    ),
    "asdiv/nfolds/asdiv-a/fold2.txt": (
        "56ffc96a9eead77224f782d7c4c84205c21079b3588b08e4a68d2deabf50febc",
        "github.com/chaochun/nlu-asdiv-dataset @ 883f90a9, dataset/nfolds/asdiv-a/fold2.txt",
    ),
    "asdiv/nfolds/asdiv-a/fold3.txt": (
        "68733651260332fa6ae89155aa5e15d20a4b11833023712d0a9b2a2d06551e54",
        "github.com/chaochun/nlu-asdiv-dataset @ 883f90a9, dataset/nfolds/asdiv-a/fold3.txt",
    ),
    "asdiv/nfolds/asdiv-a/fold4.txt": (
        "103d2091eab4ee825e55353af817af006ddd2fee4948b0ef7fa1df0f6a33723b",
        "github.com/chaochun/nlu-asdiv-dataset @ 883f90a9, dataset/nfolds/asdiv-a/fold4.txt",
    ),
    "asdiv/nfolds/asdiv-w/fold0.txt": (
        "6b00a5307b2236017cde5d39ce9e70862dab956874292492e3fa94482c454707",
        "github.com/chaochun/nlu-asdiv-dataset @ 883f90a9, dataset/nfolds/asdiv-w/fold0.txt",
    ),
    "asdiv/nfolds/asdiv-w/fold1.txt": (
        "b6044e25fb77790fa39f9a1bc78af528436de4aeeec2505d8d5721e2f52b1182",
        "github.com/chaochun/nlu-asdiv-dataset @ 883f90a9, dataset/nfolds/asdiv-w/fold1.txt",
    ),
    "asdiv/nfolds/asdiv-w/fold2.txt": (
        "c6d7f167b3d8ede05bbff5e3a0f3cd9e420d104b8c18beaa35f13b8258c1e1a8",
        "github.com/chaochun/nlu-asdiv-dataset @ 883f90a9, dataset/nfolds/asdiv-w/fold2.txt",
    ),
    "asdiv/nfolds/asdiv-w/fold3.txt": (
        "484cde36443fc4dc06afbf5628bc5d1ec901e55c9f0a6638d846fc620262be56",
        "github.com/chaochun/nlu-asdiv-dataset @ 883f90a9, dataset/nfolds/asdiv-w/fold3.txt",
    ),
    "asdiv/nfolds/asdiv-w/fold4.txt": (
        "e5e89a52d9d53ad9cd35587e6c41c6c3d3bf2ef1fdeb01f60c19639f193ca558",
        "github.com/chaochun/nlu-asdiv-dataset @ 883f90a9, dataset/nfolds/asdiv-w/fold4.txt",
    ),
    "bbh/LICENSE.source": (
        "4ef2ff4295d26ab6211235039c132697408cec5391d2c091b41e983771978db8",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, LICENSE",
    ),
    "bbh/bbh/README.md": (
        "2273d9fd5fc2fd175deb939b99ed52e2945b0225dd1f290a836308ca36efec18",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/README.md",
    ),
    "bbh/bbh/boolean_expressions.json": (
        "ea6c754ec005e2d3f2d085d349a740f593b5764f32ea4638ffed4cfc0061b12a",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/boolean_expressions.json",
    ),
    "bbh/bbh/causal_judgement.json": (
        "6e8bca44dd402008ed41c07a3d0a1d5e7b03db7001a7e002fcdf4c60985ea081",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/causal_judgement.json",
    ),
    "bbh/bbh/date_understanding.json": (
        "0148d4ac5fca05b2f82373e5fef7208e15363b9c6079493034d77b3dab496bf5",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/date_understanding.json",
    ),
    "bbh/bbh/disambiguation_qa.json": (
        "cf06df9ebf911b883671cb1b35d3fbd1a1c306b19b9e9a012407e596c85fe8c6",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/disambiguation_qa.json",
    ),
    "bbh/bbh/dyck_languages.json": (
        "3f9badedf15c2be1ce53d94fdf016299bb30ba231ef087ab9f51a7ed6d0bdc25",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/dyck_languages.json",
    ),
    "bbh/bbh/formal_fallacies.json": (
        "4c1adb664821157faade1d4153685403afcc02648f3c180a608a18f17f589629",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/formal_fallacies.json",
    ),
    "bbh/bbh/geometric_shapes.json": (
        "07be68a124420caa2ebc0b2c858ad79fc55c5c8806170e496e1e17ebfb11f31c",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/geometric_shapes.json",
    ),
    "bbh/bbh/hyperbaton.json": (
        "b6d7f55c75f5d02f2987a4f3123802dfa093872089a56a334144aae8a7264fdc",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/hyperbaton.json",
    ),
    "bbh/bbh/logical_deduction_five_objects.json": (
        "d2df31394b903b7f0e085d42a69572a092987856eac076799017d70ef266fa8f",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/logical_deduction_five_objects.json",
    ),
    "bbh/bbh/logical_deduction_seven_objects.json": (
        "2896c7e3482eea318dd37bcc370d24ec3cc91e8374c1784287b5dbd38a529e33",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/logical_deduction_seven_objects.json",
    ),
    "bbh/bbh/logical_deduction_three_objects.json": (
        "e590fae72e3a6041fbd23bd8ff6b74baf44ca563f6ba40a041c55e7b867c1681",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/logical_deduction_three_objects.json",
    ),
    "bbh/bbh/movie_recommendation.json": (
        "a8b53a87ee21a865b7248e694f388a9b8f7cf6b839b11d44796a2dd3fc088983",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/movie_recommendation.json",
    ),
    "bbh/bbh/multistep_arithmetic_two.json": (
        "c9d5a6433c9b78256422a15c78463949c8bec8d85607aa28b52d7234ad4a8595",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/multistep_arithmetic_two.json",
    ),
    "bbh/bbh/navigate.json": (
        "b7944dfd3c81da5c4815bd75b00d6fa3c64140823498e78ed496f4c3d36f7f0d",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/navigate.json",
    ),
    "bbh/bbh/object_counting.json": (
        "8acef14dbbdd40d2326ef7755750b6b5fe919fef06276af1bab3f1c297f022ff",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/object_counting.json",
    ),
    "bbh/bbh/penguins_in_a_table.json": (
        "bb87ee449698eee51215e025a453b1bcb2f5e6589c2063b2c79e68b8f0655228",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/penguins_in_a_table.json",
    ),
    "bbh/bbh/reasoning_about_colored_objects.json": (
        "0a8850cf95166020fce7a78244026ceedd7ea839302471512b4f8744e85a6a49",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/reasoning_about_colored_objects.json",
    ),
    "bbh/bbh/ruin_names.json": (
        "b6f723aef2bafdd4c7bfc3c7e0329c7e8a8279391a609969c8ed76c9319f5f7f",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/ruin_names.json",
    ),
    "bbh/bbh/salient_translation_error_detection.json": (
        "becf3eb8dd53c821a555ecd5c1334ecd93eb25f980e63be963c518e7138de5da",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/salient_translation_error_detection.json",
    ),
    "bbh/bbh/snarks.json": (
        "54a0661fe2de06167645a4965e6bcf963c4ba307e76262a7c750998b0e3d0d0e",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/snarks.json",
    ),
    "bbh/bbh/sports_understanding.json": (
        "63ca262858f6176864515cd8cf53cdaa40839ebecc155b726d77930855d167bf",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/sports_understanding.json",
    ),
    "bbh/bbh/temporal_sequences.json": (
        "92a1189faaa84aacc4c405aaa13f13f48c2992eb884772eedb622505252baef5",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/temporal_sequences.json",
    ),
    "bbh/bbh/tracking_shuffled_objects_five_objects.json": (
        "2063a46a4fb484236ed4310523606543a3e1dd4a4dc34eda65d407910ece25a5",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/tracking_shuffled_objects_five_objects.json",
    ),
    "bbh/bbh/tracking_shuffled_objects_seven_objects.json": (
        "b59fd05b850c37cf57cb514ae1e6975c00b1638ade2291722056b2af3c54084d",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/tracking_shuffled_objects_seven_objects.json",
    ),
    "bbh/bbh/tracking_shuffled_objects_three_objects.json": (
        "546cc7bf10c6a01a6a4c17ae28a4966485f21f29fd5d111f37858ec78e354f6b",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/tracking_shuffled_objects_three_objects.json",
    ),
    "bbh/bbh/web_of_lies.json": (
        "3e60323f8514a107fdb4edf35f8832a9171c5a09c0eaa47823559de905e8ab8b",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/web_of_lies.json",
    ),
    "bbh/bbh/word_sorting.json": (
        "2a6132d2c99f00d0d2eb1113ac6b4a918bd969d863c48749210d969713db8d43",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, bbh/word_sorting.json",
    ),
    "bbh/cot-prompts/boolean_expressions.txt": (
        "685affba97425cdf3549d5d313ba876caed2fa7c8a4cf1ea7549faf22179609d",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/boolean_expressions.txt",
    ),
    "bbh/cot-prompts/causal_judgement.txt": (
        "14377e36cccb084b7d0fe73988d08696f7675d712b02d3ae1f5f7f12c77028ea",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/causal_judgement.txt",
    ),
    "bbh/cot-prompts/date_understanding.txt": (
        "a0a13c392f689a1828f5f6ffb9dee3d44483794490da5d92f0e2a723787b1cfb",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/date_understanding.txt",
    ),
    "bbh/cot-prompts/disambiguation_qa.txt": (
        "794fd259297972a4c963a5d13a84dc221edde460de27fa5d8fd64299a2001597",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/disambiguation_qa.txt",
    ),
    "bbh/cot-prompts/dyck_languages.txt": (
        "b0836603007ec659ed685458647fb6d7543543304e7aca909b995d0c3aff22b2",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/dyck_languages.txt",
    ),
    "bbh/cot-prompts/formal_fallacies.txt": (
        "10c06cc362520e9b8dddfc4861e263ff668d228a52d958dcc69f09f1d224935a",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/formal_fallacies.txt",
    ),
    "bbh/cot-prompts/geometric_shapes.txt": (
        "f36d9893507eb518d84f388fb677dc0226c74a98873700de0b556548d65d3f76",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/geometric_shapes.txt",
    ),
    "bbh/cot-prompts/hyperbaton.txt": (
        "19898af91c35cb26bbdf5fdb6f6fb17e138677250332e2994005625ffb50b261",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/hyperbaton.txt",
    ),
    "bbh/cot-prompts/logical_deduction_five_objects.txt": (
        "4ed65246c0c1c4b0b4053d784181892b842bce19cf4358c976f34b1a434ef034",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/logical_deduction_five_objects.txt",
    ),
    "bbh/cot-prompts/logical_deduction_seven_objects.txt": (
        "4ed65246c0c1c4b0b4053d784181892b842bce19cf4358c976f34b1a434ef034",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/logical_deduction_seven_objects.txt",
    ),
    "bbh/cot-prompts/logical_deduction_three_objects.txt": (
        "4ed65246c0c1c4b0b4053d784181892b842bce19cf4358c976f34b1a434ef034",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/logical_deduction_three_objects.txt",
    ),
    "bbh/cot-prompts/movie_recommendation.txt": (
        "cdf765634713b057091d541b4773dd2c998f81447b0bd8564ae70be4cdf3f5d0",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/movie_recommendation.txt",
    ),
    "bbh/cot-prompts/multistep_arithmetic_two.txt": (
        "a546e0b7cde09037bc144ae5c32c9cf78dafdfac929ae76e2051b2dd8f3671ce",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/multistep_arithmetic_two.txt",
    ),
    "bbh/cot-prompts/navigate.txt": (
        "dc2fd733f1867b8c79685f15b83746064534a94bf73468341c2a9dd335be22fc",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/navigate.txt",
    ),
    "bbh/cot-prompts/object_counting.txt": (
        "e51ffc03fd713a13a379a6c938a523dfc1c2f384f2a8447bd7a12d4458f18833",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/object_counting.txt",
    ),
    "bbh/cot-prompts/penguins_in_a_table.txt": (
        "33be137e76c2a6af0bbacd17a8e7a92801886c0202a45e35ea9c2a88c1f26d51",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/penguins_in_a_table.txt",
    ),
    "bbh/cot-prompts/reasoning_about_colored_objects.txt": (
        "e4ea02d05b13e8ed9ccc3b0d878bc4df4c5a6fb76c65d39d48d6244f7ff0b9d5",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/reasoning_about_colored_objects.txt",
    ),
    "bbh/cot-prompts/ruin_names.txt": (
        "731446c6c66bb5258677af1417b599a6a5539be6d74a5afc02cf7a716444ea54",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/ruin_names.txt",
    ),
    "bbh/cot-prompts/salient_translation_error_detection.txt": (
        "2c8367f75092202cc507fdbfaaf037b1c1eed38e91289084439738367f0785f7",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/salient_translation_error_detection.txt",
    ),
    "bbh/cot-prompts/snarks.txt": (
        "35084a2a0b86bc4008ab206b838c0b97dd425897dd72198137c3cefc499c0960",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/snarks.txt",
    ),
    "bbh/cot-prompts/sports_understanding.txt": (
        "2058a9bed717a6edb8ca2f815e88851436a4ee14c8b0d504ccf464865c6d0295",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/sports_understanding.txt",
    ),
    "bbh/cot-prompts/temporal_sequences.txt": (
        "3e7ebf1e20abe3e219dc6514dcb7474d82db1b2c66acc733cd30af2e9e0b64b0",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/temporal_sequences.txt",
    ),
    "bbh/cot-prompts/tracking_shuffled_objects_five_objects.txt": (
        "2ef54cb2a72052adc3484a76209cb6a6535f194d677e79bcec2e2e71cf3768af",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/tracking_shuffled_objects_five_objects.txt",
    ),
    "bbh/cot-prompts/tracking_shuffled_objects_seven_objects.txt": (
        "2ef54cb2a72052adc3484a76209cb6a6535f194d677e79bcec2e2e71cf3768af",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/tracking_shuffled_objects_seven_objects.txt",
    ),
    "bbh/cot-prompts/tracking_shuffled_objects_three_objects.txt": (
        "2ef54cb2a72052adc3484a76209cb6a6535f194d677e79bcec2e2e71cf3768af",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/tracking_shuffled_objects_three_objects.txt",
    ),
    "bbh/cot-prompts/web_of_lies.txt": (
        "c8025ca65ab7f0897c243504c863bda043d04b6e873777536743e94023c929d0",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/web_of_lies.txt",
    ),
    "bbh/cot-prompts/word_sorting.txt": (
        "a2cdbcfe23abaa97b9787f7c03dbf49b1cfd0ff9e63197b7884bb5cd5a096ca6",
        "github.com/suzgunmirac/BIG-Bench-Hard @ 9ee07bd4, cot-prompts/word_sorting.txt",
    ),
    "gsm8k/LICENSE.source": (
        "86bbb73e855821d7c401912fd4bf82e34313e6e3b6fd6f909f2b6cc9e209a53b",
        "github.com/openai/grade-school-math @ 3101c7d5, LICENSE",
    ),
    "gsm8k/test.jsonl": (
        "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
        "github.com/openai/grade-school-math @ 3101c7d5, grade_school_math/data/test.jsonl",
    ),
    "gsm8k/train.jsonl": (
        "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
        "github.com/openai/grade-school-math @ 3101c7d5, grade_school_math/data/train.jsonl",
    ),
    "multiarith/MultiArith.json": (
        "dc9db1b6cc68b1ecc2dec830d15aaf8c9a0932aa31d5ffce88ef3628179d36f4",
        "github.com/kojima-takeshi188/zero_shot_cot @ 5ef330fc, dataset/MultiArith/MultiArith.json",
    ),
    "prompts/chain-of-thought-hub_gsm8k/LICENSE.source": (
        "67b59aea4d58135ebb02b139fd8eaf88ef6e2ec326f93af2f063956815b83c2a",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, LICENSE",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_4_9step_4_8step.txt": (
        "462812314728e3c797455442e88e4340417030d642a668dd8bb06190d0312a87",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_4_9step_4_8step.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_6_9step.txt": (
        "cedcaff414debaaca24198c261534378d0f541dce636952966bc55e496c78b2b",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_6_9step.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_7x8step.txt": (
        "89643e92d19199e0dde718c46b0c0b3dcb6bec945881408d28de1358a59fa302",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_7x8step.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_8_9step_2_8step.txt": (
        "6c4017f11969c7aac2e7580b0db91c342fe85c984743980b471a0f0c09dbbadd",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_8_9step_2_8step.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_8x8step.txt": (
        "bd8cd38117f87d543ac4c578f2e9bbc6eb65f0ae97f5f1243e114a83a3cdeef1",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_8x8step.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_9x8step.txt": (
        "6239c4af9c8d885e4dfcafe7908161dca3c83d040a7cd44620243b82d7fa4632",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_9x8step.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_easy.txt": (
        "e47a4425475eed38cc0e6de602340dde83db57d192d83021ba8cc358affb655b",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_easy.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_exclamation.txt": (
        "87fe6f740eda44295d11d735e9b005b6d12edffe9dc301192652d947edc017eb",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_exclamation.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_explicit.txt": (
        "5e35ca4f2532acbb2d0b783dd0279841e55e3a97af457b4818656eea1ba0e89a",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_explicit.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_hard.txt": (
        "8327d0907971883335836c42723510f6c20cdc3ae6fb7b00497534ba71c37dd1",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_hard.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_hardest.txt": (
        "d20a8061b484da2d93d10152727c5c137f7bec76f5f4f9e1c94f17cf33051aee",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_hardest.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_long_questions.txt": (
        "d2f5bcab407934043bd86836ce98f917551d905eb87aeb4f7f5d1da11171dc60",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_long_questions.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_long_step_short_sent.txt": (
        "a7f4b10663ce11105f3c4248cb7bb4d4e6d278d1ad5ddf87ac01404f577a73a3",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_long_step_short_sent.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_longest.txt": (
        "7a3189e7c1a11fb708d8ec507a2272a493b173e84c09bc88fa577fb329400628",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_longest.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_mid.txt": (
        "7443493c8440aa164cda6aa29e10408b02835b5cf99d8b207844e3f017bff7e5",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_mid.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_mid_length_questions.txt": (
        "b067972c3ba476496af49bacfc2ade83e4bc72c47a52f7f0e70d7d9e8f573e0d",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_mid_length_questions.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_no_break.txt": (
        "f98ea31c6f1d1689220276cb66c1d0ff6ad741aca54c0c1adc108f39b4284bdc",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_no_break.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_original.txt": (
        "db8c84b10707a16cc2f61e192e1e55452393510470a3d5790db86188a42ae4e0",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_original.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_random.txt": (
        "0163f82793ba27a2d3ad2b7d665f984ff72d3ac8b893d68c62731c2f848060f3",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_random.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_semicolon.txt": (
        "bcb806441d5add9b9ea85396379ab78e80c5678cd595c8c75063ce6a4dec10c3",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_semicolon.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_short_questions.txt": (
        "47fe3f3288064645bf74640acfcc03035a6dda31c9b459841bccb9c97d0d47e2",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_short_questions.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_simple_4_cases.txt": (
        "941647bc7ab3cb54cbd4cf791410aa84c106a703a8fad624aea8524d8ec204c6",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_simple_4_cases.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_simple_4_cases_ao.txt": (
        "75effa584a4a945469e10747a602d2a4cc65a4cfae4d46fb179b5b2231d9ca48",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_simple_4_cases_ao.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_simple_exclamation.txt": (
        "d41b4bc6505f7edf17349a8ea0e72fb6e40056df29f1c71132d43077a0ec5988",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_simple_exclamation.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_simple_explicit.txt": (
        "39dae1328a169108f70d8fb67cea83e5b46a6b85589d38e677fbabab0b2b5985",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_simple_explicit.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_simple_no_break.txt": (
        "d1dbab5d8345890dc9f0fa33bf9c856418898701ca6c410c761094c3ed0ff983",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_simple_no_break.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/prompt_simple_semicolon.txt": (
        "872a3714d4def7836a514c4676e1587749bbea02a35a496fa4f5342e118cff76",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/prompt_simple_semicolon.txt",
    ),
    "prompts/chain-of-thought-hub_gsm8k/random_index.npy": (
        "6e22394c364c23fe08521a29bbd2b2c94e69357b0de1f6cb61fe09d88a69ac1e",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/random_index.npy",
    ),
    "prompts/chain-of-thought-hub_gsm8k/validation_index.npy": (
        "0222a43bdbaa69c8840461512e4e2bb51ca4376cb03e4596dc19d005ff281de9",
        "github.com/FranxYao/chain-of-thought-hub @ be147d93, gsm8k/lib_prompt/validation_index.npy",
    ),
    "prompts/flant5-cot-specialization/LICENSE.source": (
        "67b59aea4d58135ebb02b139fd8eaf88ef6e2ec326f93af2f063956815b83c2a",
        "github.com/FranxYao/FlanT5-CoT-Specialization @ a8ffd51a, LICENSE",
    ),
    "prompts/flant5-cot-specialization/mmlu-cot.json": (
        "83fe4acfb4a9fac864c32d4cf3129333c83fa76262cd4c347feef22e686862b6",
        "github.com/FranxYao/FlanT5-CoT-Specialization @ a8ffd51a, lib_prompt/mmlu-cot.json",
    ),
    "prompts/flant5-cot-specialization/prompt_complex.txt": (
        "d20a8061b484da2d93d10152727c5c137f7bec76f5f4f9e1c94f17cf33051aee",
        "github.com/FranxYao/FlanT5-CoT-Specialization @ a8ffd51a, lib_prompt/prompt_complex.txt",
    ),
    "prompts/flant5-cot-specialization/prompt_direct.txt": (
        "1d3d2cce95ee7ab59ed618f66217dd7c6a07b677c7cfb17ddbab832945e15a1a",
        "github.com/FranxYao/FlanT5-CoT-Specialization @ a8ffd51a, lib_prompt/prompt_direct.txt",
    ),
    "prompts/flant5-cot-specialization/prompt_original.txt": (
        "db8c84b10707a16cc2f61e192e1e55452393510470a3d5790db86188a42ae4e0",
        "github.com/FranxYao/FlanT5-CoT-Specialization @ a8ffd51a, lib_prompt/prompt_original.txt",
    ),
    "prompts/flant5-cot-specialization/prompt_random.txt": (
        "0163f82793ba27a2d3ad2b7d665f984ff72d3ac8b893d68c62731c2f848060f3",
        "github.com/FranxYao/FlanT5-CoT-Specialization @ a8ffd51a, lib_prompt/prompt_random.txt",
    ),
    "prompts/flant5-cot-specialization/prompt_simple.txt": (
        "e47a4425475eed38cc0e6de602340dde83db57d192d83021ba8cc358affb655b",
        "github.com/FranxYao/FlanT5-CoT-Specialization @ a8ffd51a, lib_prompt/prompt_simple.txt",
    ),
    "prompts/flant5-cot-specialization/prompt_simple_4_cases.txt": (
        "941647bc7ab3cb54cbd4cf791410aa84c106a703a8fad624aea8524d8ec204c6",
        "github.com/FranxYao/FlanT5-CoT-Specialization @ a8ffd51a, lib_prompt/prompt_simple_4_cases.txt",
    ),
    "prompts/flant5-cot-specialization/validation_index.npy": (
        "0222a43bdbaa69c8840461512e4e2bb51ca4376cb03e4596dc19d005ff281de9",
        "github.com/FranxYao/FlanT5-CoT-Specialization @ a8ffd51a, lib_prompt/validation_index.npy",
    ),
    "prompts/wei2022_gsm8k_8shot_cot.jsonl": (
        "03b0800331fff7d0af694c702842c6fbff232d4fc83d8c46e7d70f5957d300ad",
        "derived from prompts/chain-of-thought-hub_gsm8k/prompt_original.txt (Wei et al. 2022, Table 20)",
    ),
    "prompts/wei2022_gsm8k_8shot_cot.txt": (
        "3d55795c084e26f6ebb6925833999a44f75c4280eb7ab4d66f9bb940244e4847",
        "derived from prompts/chain-of-thought-hub_gsm8k/prompt_original.txt (Wei et al. 2022, Table 20)",
    ),
    "singleeq/questions.json": (
        "051507bd2b489c257057b485774a83d2710c23a4bc0f4a58e1822ae2773ef05e",
        "github.com/kojima-takeshi188/zero_shot_cot @ 5ef330fc, dataset/SingleEq/questions.json",
    ),
    "svamp/LICENSE.source": (
        "07ce3a34de7a865345634f9278bc26ddcacc2d0defd348c28e3f4603448b9ba4",
        "github.com/arkilpatel/SVAMP @ 689d7cca, LICENSE",
    ),
    "svamp/SVAMP.json": (
        "5be77703a6d891ae476d7c082787ad361392aa02453b132516cdd5f4e7934e3e",
        "github.com/arkilpatel/SVAMP @ 689d7cca, SVAMP.json",
    ),
    "t5x/test_t5_tiny.checkpoint_0": (
        "2cd4d2f4a0466ba7d302127f1cde54628c0f9413999040b719f5178363a3eca9",
        "github.com/google-research/t5x @ 87dfdb5d, t5x/testdata/test_t5_tiny.checkpoint_0",
    ),
    "tokenizers/gpt2/encoder.json": (
        "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
        "encoder.json of github.com/harshbhatt7585/GPT2",
    ),
    "tokenizers/gpt2/p50k_base.tiktoken": (
        "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        "derived: r50k_base.tiktoken plus 24 whitespace-run tokens (sha256 = tiktoken's pinned hash)",
    ),
    "tokenizers/gpt2/r50k_base.tiktoken": (
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        "derived from tokenizers/gpt2/encoder.json + vocab.bpe (sha256 = tiktoken's pinned hash)",
    ),
    "tokenizers/gpt2/vocab.bpe": (
        "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        "vocab.bpe of github.com/SaketRam2706/nanogpt",
    ),
    "tokenizers/t5/special_tokens_map.json": (
        "7a1985a994c41886db38c719d2a3d2f40606663cc19d7c5d6a85d349320e06d2",
        "github.com/vijayanandraj/onebillionrow_greencoding @ e2c4b6fa, t5-small/special_tokens_map.json",
    ),
    "tokenizers/t5/spiece.model": (
        "d60acb128cf7b7f2536e8f38a5b18a05535c9e14c7a355904270e15b0945ea86",
        "the T5 / FlanT5 SentencePiece model (spiece.model of google/flan-t5-base on Hugging Face, = gs://t5-data/vocabs/cc_all.32000/sentencepiece.model)",
    ),
    "tokenizers/t5/tokenizer.json": (
        "71c33c3bf57bf2e19b4f8ac686ad8d182a79f7cd1a4921889437c453420223f1",
        "github.com/vijayanandraj/onebillionrow_greencoding @ e2c4b6fa, t5-small/tokenizer.json",
    ),
    "tokenizers/t5/tokenizer_config.json": (
        "e0aff0b1de9071e30d9a60a199303b6abe916a64a19932bd1c46992279b41a1f",
        "github.com/vijayanandraj/onebillionrow_greencoding @ e2c4b6fa, t5-small/tokenizer_config.json",
    ),
}
