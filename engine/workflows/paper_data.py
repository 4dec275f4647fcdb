"""The published data of "Reward Models Inherit Value Biases from Pretraining" (Christian et al.,
ICLR 2026): where it lives, the sha256 of every file valuescope imports, and which reward model and
family each score table belongs to. Pure data; the import is engine/workflows/paper_import.py."""
from __future__ import annotations

from dataclasses import dataclass

ICLR2026_REPOSITORY = "brchristian/reward_models_inherit_value_biases_from_pretraining"
ICLR2026_COMMIT = "5d8d2e9d879bf0060c791b11300f0efda42c9bcf"
ICLR2026_ARCHIVE_URL = f"https://codeload.github.com/{ICLR2026_REPOSITORY}/tar.gz/{ICLR2026_COMMIT}"


@dataclass(frozen=True)
class PaperModel:
    short_id: str  # the authors' label (R: model_id)
    hub_id: str
    family: str


# The authors' file stems (after their big2_rewards_ / MFD20_rewards_ prefix) -> the reward model.
ICLR2026_MODELS = {
    "nicolinho_QRM-Gemma-2-27B": PaperModel("N-Gem-27B", "nicolinho/QRM-Gemma-2-27B", "gemma"),
    "Skywork_Skywork-Reward-Gemma-2-27B-v0.2": PaperModel("S-Gem-27B-v0.2", "Skywork/Skywork-Reward-Gemma-2-27B-v0.2", "gemma"),
    "Skywork_Skywork-Reward-Gemma-2-27B": PaperModel("S-Gem-27B", "Skywork/Skywork-Reward-Gemma-2-27B", "gemma"),
    "Skywork_Skywork-Reward-Llama-3.1-8B-v0.2": PaperModel("S-Lla-8B-v0.2", "Skywork/Skywork-Reward-Llama-3.1-8B-v0.2", "llama"),
    "nicolinho_QRM-Llama3.1-8B": PaperModel("N-Lla-8B", "nicolinho/QRM-Llama3.1-8B", "llama"),
    "LxzGordon_URM-LLaMa-3.1-8B": PaperModel("L-Lla-8B", "LxzGordon/URM-LLaMa-3.1-8B", "llama"),
    "Ray2333_GRM-Llama3-8B-rewardmodel-ft": PaperModel("R-Lla-8B", "Ray2333/GRM-Llama3-8B-rewardmodel-ft", "llama"),
    "Ray2333_GRM-Llama3.2-3B-rewardmodel-ft": PaperModel("R-Lla-3B", "Ray2333/GRM-Llama3.2-3B-rewardmodel-ft", "llama"),
    "RLHFlow_ArmoRM-Llama3-8B-v0.1": PaperModel("F-Lla-8B-v0.1", "RLHFlow/ArmoRM-Llama3-8B-v0.1", "llama"),
    "Ray2333_GRM-gemma2-2B-rewardmodel-ft": PaperModel("R-Gem-2B", "Ray2333/GRM-gemma2-2B-rewardmodel-ft", "gemma"),
}
# A score table's file name starts with one of these; in dict_MFD_20/ four files are named
# MFD20_rewards_* and six big2_rewards_* although all ten hold MFD scores.
SCORE_FILE_PREFIXES = ("big2_rewards_", "MFD20_rewards_")

# Score tables: folder in the repository -> (name of the imported set, lexicon it was scored on).
ICLR2026_SCORE_SETS = {
    "data/reward_model_scores/dict_big2_nouns": ("big2", "iclr2026_big2_nouns"),
    "data/reward_model_scores/dict_MFD_20": ("mfd", "iclr2026_mfd20"),
}
# Lexicons: file in the repository -> name under <home>/lexicons/ (then usable as --lexicon NAME).
ICLR2026_LEXICONS = {
    "data/corpora/dict_big2_nouns.csv": "iclr2026_big2_nouns.csv",
    "data/corpora/dict_big2_expanded.csv": "iclr2026_big2_expanded.csv",
    "data/corpora/moral-foundations-dictionary-20.dicx": "iclr2026_mfd20.dicx",
}
ICLR2026_TOKEN_INTERSECTION = "data/corpora/token_intersection.csv"
ICLR2026_TRAINING_DIR = "data/reward_model_training"

# sha256 of each published file, computed from the repository at ICLR2026_COMMIT.
ICLR2026_SHA256 = {
    "data/corpora/dict_big2_expanded.csv": "9554698f6b7dd619853a7c129db977b59884560e211e75699e2b9c4b746dd8f1",
    "data/corpora/dict_big2_nouns.csv": "186886a25b2f03ea3ec7e78fad71fabee408e3b5ec1758683461df4359b45435",
    "data/corpora/moral-foundations-dictionary-20.dicx": "973957f99129b324c8a4ebf3fcb7ed4e1f9f017b2d041f50288f991b0844ce7a",
    "data/corpora/token_intersection.csv": "f5faabb094332b36528c21bfe4fe96532b510f5e3bebb16794560e4b1835814c",
    "data/reward_model_scores/dict_MFD_20/MFD20_rewards_Skywork_Skywork-Reward-Gemma-2-27B-v0.2.csv": "3f8cf54b64299dd856127a30aa1c278f55a2ced95f6d49ac127358b786f2373c",
    "data/reward_model_scores/dict_MFD_20/MFD20_rewards_Skywork_Skywork-Reward-Gemma-2-27B.csv": "aa12d99c3488643aff36f88ff094e910843e2d9994b251019bc3ebc0a68285ad",
    "data/reward_model_scores/dict_MFD_20/MFD20_rewards_Skywork_Skywork-Reward-Llama-3.1-8B-v0.2.csv": "296ca9662672a491b04352cfaa214d46dda6041c637ba6ec977fbf79c08531cf",
    "data/reward_model_scores/dict_MFD_20/MFD20_rewards_nicolinho_QRM-Gemma-2-27B.csv": "6c8a4dcdbdf2a5c3972a5a09906d47cfb9f7c990650fdb9678cd6516f3ae874e",
    "data/reward_model_scores/dict_MFD_20/big2_rewards_LxzGordon_URM-LLaMa-3.1-8B.csv": "3771b16642a259c750597c5b5691615b1a0ad6c42fc2611c99cea5da003861ce",
    "data/reward_model_scores/dict_MFD_20/big2_rewards_RLHFlow_ArmoRM-Llama3-8B-v0.1.csv": "e5a9b38338493dcc80f1633d89a8760ca39af203e264f33aecdf5f2361f68ef9",
    "data/reward_model_scores/dict_MFD_20/big2_rewards_Ray2333_GRM-Llama3-8B-rewardmodel-ft.csv": "ec658f0169888e357530a8861aeb06fe1e8a31054f8517bdeb44168dab57420e",
    "data/reward_model_scores/dict_MFD_20/big2_rewards_Ray2333_GRM-Llama3.2-3B-rewardmodel-ft.csv": "286f99e2a4bd08c81de3f89dd45024a7fc4edcc7485e50e3677c16d60f20bd0e",
    "data/reward_model_scores/dict_MFD_20/big2_rewards_Ray2333_GRM-gemma2-2B-rewardmodel-ft.csv": "929187da67c99474e3793732e1fcc9e156d8835efa14c0187a59e92bf4822a16",
    "data/reward_model_scores/dict_MFD_20/big2_rewards_nicolinho_QRM-Llama3.1-8B.csv": "b7f86be0e77bd6160a59af8ce122ff02703e2f64a64639a2f0f12f156fb774ed",
    "data/reward_model_scores/dict_big2_nouns/big2_rewards_LxzGordon_URM-LLaMa-3.1-8B.csv": "c699e86fcbe9a6469956eada8b0c0038cdf09e265d74f85201643c80005551a5",
    "data/reward_model_scores/dict_big2_nouns/big2_rewards_RLHFlow_ArmoRM-Llama3-8B-v0.1.csv": "f5082b17fb9b6793cab814b217a96c534e1eb7cb907e9fd68fbff01d5fb79bc0",
    "data/reward_model_scores/dict_big2_nouns/big2_rewards_Ray2333_GRM-Llama3-8B-rewardmodel-ft.csv": "e9d6a28b9af3336f7065820fcd4ab1ac1e4c1b42c128656887b17d98f816271b",
    "data/reward_model_scores/dict_big2_nouns/big2_rewards_Ray2333_GRM-Llama3.2-3B-rewardmodel-ft.csv": "ef6d34263d3d866e31a3f08e4c344ae7e7a6701380eb75baaa67ec7acec1770c",
    "data/reward_model_scores/dict_big2_nouns/big2_rewards_Ray2333_GRM-gemma2-2B-rewardmodel-ft.csv": "1ad021d4a7a5f5da2a9a2cd87f452b87e6f597cf013ab57bddf39030704d05c9",
    "data/reward_model_scores/dict_big2_nouns/big2_rewards_Skywork_Skywork-Reward-Gemma-2-27B-v0.2.csv": "dfa9220bd5a6df92d0e343a944746f9cd82e66c879f43689ee3fa3e4618f173b",
    "data/reward_model_scores/dict_big2_nouns/big2_rewards_Skywork_Skywork-Reward-Gemma-2-27B.csv": "e735023066fea2d81f802e3d20f4366b8e7d4202ec08a7875d10f695f3a7e46e",
    "data/reward_model_scores/dict_big2_nouns/big2_rewards_Skywork_Skywork-Reward-Llama-3.1-8B-v0.2.csv": "102a77636bfc228db2da8e28094a1f6d846c60ca6c244190593ed2f9606eb1ae",
    "data/reward_model_scores/dict_big2_nouns/big2_rewards_nicolinho_QRM-Gemma-2-27B.csv": "fac8cb5e475ae5c17539ea482290c37417f3d28a49ed27f00ae1287e86c6dfc5",
    "data/reward_model_scores/dict_big2_nouns/big2_rewards_nicolinho_QRM-Llama3.1-8B.csv": "7b3d8c82d637bb1c4e2210ba75b214a929e01ba3aca115d52125566f38d7e3a2",
    "data/reward_model_training/rank_results_grm_80k.csv": "5c3483e286ef5f4233948de59333cf4b5ef755cff1d5c30ebb49a908bc4ff2b5",
    "data/reward_model_training/rank_results_sky_80k.csv": "4674ea69eb3265b1738ebb790833e3169a5ab94dafe7a86434f8587c991b4fc2",
    "data/reward_model_training/rank_results_uf_100.csv": "8d0a25dcedb785f02668fb5b2935c3d85c0d9a918b19cd870ba22de52b88138e",
    "data/reward_model_training/rank_results_uf_13.csv": "905dbc2fa37577b7f69901d967c445c4df0699176dc2e4c540b938b4256347ba",
    "data/reward_model_training/rank_results_uf_27.csv": "905dbc2fa37577b7f69901d967c445c4df0699176dc2e4c540b938b4256347ba",
    "data/reward_model_training/rank_results_uf_54.csv": "80b4d0b88ffec4d3859b756f32f1d1191ea359d0e4da29ccce54817857f43e9f",
}

# Fig 4b's runs (the authors' R manifest, generate_figure_4_and_A5.R): rank table -> data size in
# thousands of preference pairs, data source, objective. rank_results_uf_13.csv is the same file as
# rank_results_uf_27.csv (the 27K run), so its "13K" point is not a 13K run.
ICLR2026_FIG4B_RUNS = {
    "rank_results_uf_13.csv": (13, "uf", "BT"),
    "rank_results_uf_27.csv": (27, "uf", "BT"),
    "rank_results_uf_54.csv": (53, "uf", "BT"),
    "rank_results_uf_100.csv": (106, "uf", "BT"),
    "rank_results_sky_80k.csv": (77, "skywork", "BT"),
    "rank_results_grm_80k.csv": (550, "uf+skywork", "GRM"),  # off-the-shelf GRM reward models, one point each
}
ICLR2026_DUPLICATE_RUN = "rank_results_uf_13.csv"
