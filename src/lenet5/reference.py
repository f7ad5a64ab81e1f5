"""What the lab report (shared/reference) published: its numbers and its network, the things every
comparison is made against; and the test errors of the paper it simplifies. Typed here once."""

import torch
import torch.nn.functional as F
from torch import nn

# epoch -> (test loss, test accuracy), as printed by the report's `epoch:{}, loss:{:.4f}, acc:{:.4f}`.
LAB_REPORT_POINTS: dict[int, tuple[float, float]] = {0: (1.4298, 0.4460), 5: (0.0626, 0.9814), 29: (0.0421, 0.9885)}
LAB_REPORT_FINAL_ACC = LAB_REPORT_POINTS[29][1]
# LeCun, Bottou, Bengio, Haffner 1998, section III: LeNet-5's MNIST test error after 20 passes,
# trained on the 60,000 digits as they are, and with 540,000 distorted copies added.
LECUN1998_TEST_ERROR = {"plain": 0.0095, "distorted": 0.008}


class ReportNet(nn.Module):
    """The report's `Net`, as printed there: what `lenet5.models.LeNet5()` must equal."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(5 * 5 * 16, 120)
        self.fc2 = nn.Linear(120, 84)
        self.clf = nn.Linear(84, 10)

    def forward(self, x):
        x = F.avg_pool2d(torch.sigmoid(self.conv1(x)), kernel_size=2, stride=2)
        x = F.avg_pool2d(torch.sigmoid(self.conv2(x)), kernel_size=2, stride=2)
        x = x.view(x.size(0), -1)
        x = torch.sigmoid(self.fc1(x))
        x = torch.sigmoid(self.fc2(x))
        return self.clf(x)
