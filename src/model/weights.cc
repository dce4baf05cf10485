// ForEachMatrix / ForEachVector: the one list of GPT-2 parameters, in HF order.
#include "model/weights.h"

namespace gpt2q {

void ForEachMatrix(ModelWeights& weights,
                   const std::function<void(const std::string& name, ParamKind kind,
                                            std::shared_ptr<WeightMatrix>& matrix)>& visit) {
  const bool tied = weights.head_tied();
  visit("wte.weight", ParamKind::kEmbedding, weights.wte);
  if (tied) weights.lm_head = weights.wte;  // a replaced wte stays the head
  for (size_t i = 0; i < weights.blocks.size(); ++i) {
    BlockWeights& b = weights.blocks[i];
    const std::string p = "h." + std::to_string(i) + ".";
    visit(p + "attn.c_attn.weight", ParamKind::kLinear, b.attn_c_attn);
    visit(p + "attn.c_proj.weight", ParamKind::kLinear, b.attn_c_proj);
    visit(p + "mlp.c_fc.weight", ParamKind::kLinear, b.mlp_c_fc);
    visit(p + "mlp.c_proj.weight", ParamKind::kLinear, b.mlp_c_proj);
  }
  if (!tied) visit("lm_head.weight", ParamKind::kHead, weights.lm_head);
}

void ForEachVector(ModelWeights& weights,
                   const std::function<void(const std::string& name, ParamKind kind,
                                            FloatSpan& span)>& visit) {
  visit("wpe.weight", ParamKind::kPosition, weights.wpe);
  for (size_t i = 0; i < weights.blocks.size(); ++i) {
    BlockWeights& b = weights.blocks[i];
    const std::string p = "h." + std::to_string(i) + ".";
    visit(p + "ln_1.weight", ParamKind::kLayerNorm, b.ln_1_weight);
    visit(p + "ln_1.bias", ParamKind::kLayerNorm, b.ln_1_bias);
    visit(p + "attn.c_attn.bias", ParamKind::kBias, b.attn_c_attn_bias);
    visit(p + "attn.c_proj.bias", ParamKind::kBias, b.attn_c_proj_bias);
    visit(p + "ln_2.weight", ParamKind::kLayerNorm, b.ln_2_weight);
    visit(p + "ln_2.bias", ParamKind::kLayerNorm, b.ln_2_bias);
    visit(p + "mlp.c_fc.bias", ParamKind::kBias, b.mlp_c_fc_bias);
    visit(p + "mlp.c_proj.bias", ParamKind::kBias, b.mlp_c_proj_bias);
    if (b.mlp_act_scale.data != nullptr) visit(p + "mlp.act_scale", ParamKind::kActScale, b.mlp_act_scale);
  }
  visit("ln_f.weight", ParamKind::kLayerNorm, weights.ln_f_weight);
  visit("ln_f.bias", ParamKind::kLayerNorm, weights.ln_f_bias);
}

}  // namespace gpt2q
