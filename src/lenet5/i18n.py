"""Every word the report and its figures show, per language: one table, one renderer (report.py,
viz.py) for all of them.

    from lenet5.i18n import strings
    T = strings("zh")
    T["final"].format(acc="98.85%", ...)

Chinese follows the reference lab report and the terms a Chinese deep-learning course uses (卷积层,
池化层, 激活函数, 学习率, 准确率, 损失). A missing key in one language is a bug, and
tests/test_report.py checks that every language has every key.
"""

from __future__ import annotations

from .errors import UserError

LANGS = ("en", "zh")

_EN = {
    # ---- report
    "title": "LeNet-5 on {dataset} ({task}): {preset} run {run}",
    "h_purpose": "1. Purpose",
    "purpose": "Train the LeNet-5 convolutional network on {task} with PyTorch, measure it on the held-out "
               "test set after every epoch, and look at the intermediate feature maps to see how the "
               "convolution and pooling layers extract features, as the lab report does.",
    "task_mnist": "handwritten digits",
    "task_fashion-mnist": "images of clothing",
    "h_principle": "2. Principle: the model",
    "principle": "A convolutional layer slides small learned kernels over its input, so one detector looks "
                 "for the same stroke pattern everywhere in the image (shared weights); a pooling layer "
                 "halves each map's resolution, keeping what was found and forgetting exactly where; the "
                 "activation function makes the stack non-linear; fully connected layers combine the pooled "
                 "features into one score per class, and the loss measures how far those scores are from "
                 "the true label.",
    "model": "{name} with {activation} activations, {pooling}-pooling{extras}: {params} parameters.",
    "pool_avg": "avg", "pool_max": "max",
    "model_batch_norm": ", batch norm",
    "model_dropout": ", dropout {p}",
    "model_lecun1998": "LeNet-5 as LeCun et al. (1998) published it: a 32×32 input at the paper's levels "
                       "(background -0.1, ink 1.175), the scaled tanh 1.7159·tanh(2a/3) after every layer, "
                       "subsampling with a trainable coefficient and bias per map, C3 connected by the paper's "
                       "Table I, and 10 Euclidean RBF output units with fixed ±1 prototypes (7×12 digit "
                       "bitmaps): {params} trainable parameters.",
    "h_procedure": "3. Procedure",
    "h_data": "3.1 Data",
    "data": "{name}: {n_train} training and {n_test} test images of 28×28 pixels, {n_classes} classes, "
            "pixels scaled to [0, 1]{extras}. Every file was verified against its canonical MD5 (of the "
            "decompressed bytes):",
    "data_normalize": ", then standardised inside the model",
    "data_augment": ", random affine distortions while training",
    "data_distort": ", distorted while training ({names})",
    "col_file": "file", "col_md5": "MD5", "col_status": "status",
    "h_setup": "3.2 Training setup",
    "setup": "{optimizer} with learning rate {lr} ({schedule} schedule), batch {batch}, {epochs} epochs, "
             "{loss}, seed {seed}, device {device}. The resolved configuration:",
    "loss_cross-entropy": "cross-entropy loss",
    "loss_map": "the paper's MAP loss (LeCun et al. 1998, eq. 9)",
    "schedule_constant": "constant", "schedule_cosine": "cosine", "schedule_onecycle": "one-cycle",
    "schedule_lecun1998": "the paper's per-pass",
    "h_results": "4. Results and analysis",
    "h_metrics": "4.1 Training metrics",
    "final": "Final test accuracy {acc} (loss {loss}) after epoch {epoch}; best {best} at epoch {best_epoch}. "
             "Total training time {total:.0f} s ({per:.1f} s per epoch including the test pass).",
    "cap_curves": "Test and train loss and accuracy per epoch",
    "cap_curves_reference": " (stars: the lab report's test results)",
    "col_epoch": "epoch", "col_test_loss": "test loss", "col_test_acc": "test acc",
    "col_train_loss": "train loss", "col_train_acc": "train acc", "col_lr": "lr", "col_seconds": "seconds",
    "h_vs_report": "This run vs the lab report",
    "col_report_loss": "lab report loss", "col_report_acc": "lab report acc",
    "col_run_loss": "this run loss", "col_run_acc": "this run acc", "not_run": "not run",
    "h_vs_paper": "This run vs LeCun et al. 1998",
    "vs_paper": "The paper's test error is {paper} ({what}); this run's is {mine}.",
    "paper_plain": "no distortions", "paper_distorted": "trained with distortions",
    "h_features": "4.2 Feature maps",
    "cap_feature_maps": "Test digits, their conv1 maps after pooling and their conv2 maps after pooling, each "
                        "summed over channels (the lab report's figure 3)",
    "features": "The first layer keeps the digit's shape: its {c1} maps of {h1}×{w1} are blurred, "
                "edge-sensitive copies of the strokes, still readable as the digit. The second layer's {c2} "
                "maps of {h2}×{w2} no longer look like the digit: each cell says whether a stroke pattern "
                "occurs in a region, an abstract code the fully connected layers classify.",
    "cap_channels": "One test digit: every conv1 and conv2 channel and the {k} learned 5×5 conv1 kernels (each "
                    "group on one shared colour scale)",
    "h_errors": "4.3 Errors",
    "errors": "Test accuracy {acc}; the weakest class is {worst} ({worst_acc}); the most frequent confusion is "
              "{true} read as {pred} ({n} images).",
    "cap_confusion": "Confusion matrix and per-class accuracy",
    "cap_mistakes": "The misclassified test images, most confident wrong answers first",
    "h_summary": "5. Summary and outlook",
    "summary": "This {preset} LeNet-5 reached {acc} on the {name} test set in {epochs} epochs{reference}.",
    "summary_reference": " (the lab report: {acc})",
    "outlook": "The lab report's next steps (ReLU, max-pooling, learning-rate decay, dropout) are each "
               "measured alone and together in `lenet5 ablate`; the `modern` preset combines them, and the "
               "`lecun1998` preset is the LeNet-5 of the original paper.",
    # ---- figures
    "fig_train": "train", "fig_test": "test", "fig_reference": "lab report (test)",
    "fig_epoch": "epoch", "fig_loss_cross-entropy": "cross-entropy loss", "fig_loss_map": "MAP loss",
    "fig_acc_axis": "accuracy (%)", "fig_loss_title": "Loss",
    "fig_acc_title": "Accuracy (final test {acc:.2f}%)",
    "fig_curves_title": "{preset} on {dataset}: test and train per epoch",
    "fig_input": "input 28×28",
    "fig_conv_sum": "{layer} → pool: Σ{n} maps, {h}×{w}",
    "fig_true_pred": "true {true}\npred {pred}{mark}",
    "fig_maps_title": "Feature maps (each layer's channels summed)",
    "fig_input_short": "input", "fig_kernel": "kernel", "fig_conv1": "conv1", "fig_conv2": "conv2",
    "fig_kernel_scale": "conv1 weight", "fig_pool1_scale": "pool1 activation", "fig_pool2_scale": "pool2 activation",
    "fig_channels_title": "Test image #{index} (true {true}, predicted {pred}): every channel and the conv1 kernels",
    "fig_predicted": "predicted", "fig_true": "true",
    "fig_confusion_title": "Confusion matrix (counts; colour = errors)",
    "fig_misclassified": "misclassified images", "fig_per_class": "Per-class accuracy",
    "fig_no_mistakes": "no mistakes",
    "fig_mistakes_title": "Most confident mistakes ({n} of {total} misclassified test images)",
}

_ZH = {
    # ---- 报告
    "title": "基于 LeNet-5 的{task}实验报告（{dataset}，{preset} 配置，运行 {run}）",
    "h_purpose": "一、实验目的",
    "purpose": "用 PyTorch 构建并训练 LeNet-5 卷积神经网络（CNN），完成{task}任务；每轮训练结束后在独立的"
               "测试集上评估模型；可视化卷积层的中间特征图（Feature Maps），直观理解卷积层与池化层逐层提取"
               "特征的过程，与参考实验报告一致。",
    "task_mnist": "手写数字识别",
    "task_fashion-mnist": "服装图像分类",
    "h_principle": "二、实验原理",
    "principle": "卷积层用一组可学习的小卷积核在输入上滑动，同一个卷积核在图像的每个位置检测同一种笔画模式"
                 "（权值共享）；池化层（下采样）把每张特征图的分辨率减半，保留“检测到了什么”，弱化“确切在"
                 "哪里”；激活函数为网络引入非线性；全连接层把池化后的特征组合成每个类别的得分，损失函数衡量"
                 "这些得分与真实标签之间的差距。",
    "model": "{name} 网络，激活函数为 {activation}，池化方式为{pooling}池化{extras}，共 {params} 个参数。",
    "pool_avg": "平均", "pool_max": "最大",
    "model_batch_norm": "，使用批归一化（Batch Norm）",
    "model_dropout": "，Dropout 比例 {p}",
    "model_lecun1998": "LeCun 等人 1998 年论文中原版的 LeNet-5：32×32 输入，按论文归一化（背景 -0.1，笔画 "
                       "1.175）；每层之后使用缩放双曲正切激活函数 1.7159·tanh(2a/3)；下采样层每张特征图有一个"
                       "可训练系数和偏置；C3 层按论文表 I 部分连接；输出层为 10 个欧氏径向基函数（RBF）单元，"
                       "其原型固定为由 7×12 数字位图得到的 ±1 向量。共 {params} 个可训练参数。",
    "h_procedure": "三、实验步骤",
    "h_data": "1. 数据准备",
    "data": "{name}：{n_train} 张训练图像、{n_test} 张测试图像，尺寸 28×28 像素，共 {n_classes} 个类别，像素值"
            "缩放到 [0, 1]{extras}。每个文件都已按其标准 MD5（解压后的字节）校验：",
    "data_normalize": "，再在模型内部做标准化",
    "data_augment": "，训练时施加随机仿射变形",
    "data_distort": "，训练时施加随机变形（{names}）",
    "col_file": "文件", "col_md5": "MD5", "col_status": "状态",
    "h_setup": "2. 模型训练配置",
    "setup": "优化器 {optimizer}，学习率 {lr}（{schedule}），批大小 {batch}，共训练 {epochs} 轮，{loss}，"
             "随机种子 {seed}，设备 {device}。完整配置如下：",
    "loss_cross-entropy": "损失函数为交叉熵损失",
    "loss_map": "损失函数为论文的 MAP 损失（LeCun 等 1998，式 (9)）",
    "schedule_constant": "恒定", "schedule_cosine": "余弦退火调度", "schedule_onecycle": "单周期（one-cycle）调度",
    "schedule_lecun1998": "按论文逐轮分段下降",
    "h_results": "四、实验结果与分析",
    "h_metrics": "1. 训练指标",
    "final": "最终测试集准确率 {acc}（损失 {loss}），第 {epoch} 轮；最高准确率 {best}，出现在第 {best_epoch} 轮。"
             "总训练时间 {total:.0f} 秒（每轮 {per:.1f} 秒，含测试）。",
    "cap_curves": "每轮的测试集与训练集损失和准确率",
    "cap_curves_reference": "（星号：参考实验报告的测试结果）",
    "col_epoch": "轮次", "col_test_loss": "测试损失", "col_test_acc": "测试准确率",
    "col_train_loss": "训练损失", "col_train_acc": "训练准确率", "col_lr": "学习率", "col_seconds": "耗时（秒）",
    "h_vs_report": "本次运行与参考实验报告对比",
    "col_report_loss": "参考报告损失", "col_report_acc": "参考报告准确率",
    "col_run_loss": "本次损失", "col_run_acc": "本次准确率", "not_run": "未运行",
    "h_vs_paper": "本次运行与 LeCun 等 1998 年论文对比",
    "vs_paper": "论文的测试错误率为 {paper}（{what}）；本次运行为 {mine}。",
    "paper_plain": "不使用变形", "paper_distorted": "使用变形训练",
    "h_features": "2. 特征图分析",
    "cap_feature_maps": "测试图像、第一层卷积经池化后的特征图、第二层卷积经池化后的特征图（各自对通道求和；对应"
                        "参考实验报告的图 3）",
    "features": "第一层卷积保留了数字的形状：{c1} 张 {h1}×{w1} 的特征图是笔画略显模糊、对边缘敏感的副本，"
                "仍能看出是哪个数字。第二层卷积的 {c2} 张 {h2}×{w2} 特征图已不再像数字：每个位置表示某种笔画"
                "组合是否出现在对应区域，是一种抽象的编码，由全连接层完成分类。",
    "cap_channels": "一张测试图像：第一层与第二层卷积的每个通道，以及第一层学到的 {k} 个 5×5 卷积核（每组使用"
                    "统一的色标）",
    "h_errors": "3. 错误分析",
    "errors": "测试集准确率 {acc}；准确率最低的类别是 {worst}（{worst_acc}）；最常见的混淆是把 {true} 识别为 "
              "{pred}（{n} 张图像）。",
    "cap_confusion": "混淆矩阵与各类别准确率",
    "cap_mistakes": "分类错误的测试图像，按错误答案的置信度从高到低排列",
    "h_summary": "五、总结与展望",
    "summary": "本次 {preset} 配置的 LeNet-5 在 {name} 测试集上训练 {epochs} 轮，准确率达到 {acc}{reference}。",
    "summary_reference": "（参考实验报告：{acc}）",
    "outlook": "参考实验报告提出的改进方向——ReLU 激活函数、最大池化、学习率衰减和 Dropout——在 "
               "`lenet5 ablate` 中逐一及组合测量；`modern` 预设把它们结合在一起，`lecun1998` 预设则是原始论文"
               "中的 LeNet-5。",
    # ---- 图
    "fig_train": "训练集", "fig_test": "测试集", "fig_reference": "参考实验报告（测试集）",
    "fig_epoch": "轮次", "fig_loss_cross-entropy": "交叉熵损失", "fig_loss_map": "MAP 损失",
    "fig_acc_axis": "准确率（%）", "fig_loss_title": "损失",
    "fig_acc_title": "准确率（最终测试集 {acc:.2f}%）",
    "fig_curves_title": "{preset} 配置，{dataset}：每轮的测试集与训练集指标",
    "fig_input": "输入 28×28",
    "fig_conv_sum": "{layer} → 池化\n{n} 张特征图之和，{h}×{w}",
    "fig_true_pred": "真实 {true}\n预测 {pred}{mark}",
    "fig_maps_title": "特征图（每层各通道求和）",
    "fig_input_short": "输入", "fig_kernel": "卷积核", "fig_conv1": "卷积层1", "fig_conv2": "卷积层2",
    "fig_kernel_scale": "卷积层1 权重", "fig_pool1_scale": "池化层1 激活值", "fig_pool2_scale": "池化层2 激活值",
    "fig_channels_title": "测试图像 #{index}（真实 {true}，预测 {pred}）：每个通道与第一层卷积核",
    "fig_predicted": "预测类别", "fig_true": "真实类别",
    "fig_confusion_title": "混淆矩阵（计数；颜色表示错误数）",
    "fig_misclassified": "误分类图像数", "fig_per_class": "各类别准确率",
    "fig_no_mistakes": "没有错误",
    "fig_mistakes_title": "置信度最高的错误（共 {total} 张误分类测试图像，显示 {n} 张）",
}

STRINGS = {"en": _EN, "zh": _ZH}
HTML_LANG = {"en": "en", "zh": "zh-CN"}


def strings(lang: str = "en") -> dict[str, str]:
    if lang not in STRINGS:
        raise UserError(f"unknown language {lang!r}; known: {', '.join(LANGS)}")
    return STRINGS[lang]
