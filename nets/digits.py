"""The course's MNIST digit classifiers.

Every model takes a normalised batch ``(N, 1, 28, 28)`` and returns logits
``(N, 10)``. Layer order follows the course exactly (pool before ReLU), so the
committed weights keep the names the course used.
"""

import torch
import torch.nn.functional as F
from torch import nn


class DigitsMLP(nn.Module):
    """Linear 784-512-256-128-64-10 with ReLU."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        widths = [784, 512, 256, 128, 64]
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(widths, widths[1:], strict=False):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(widths[-1], 10))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.layers(x)
        return logits


class DigitsCNN(nn.Module):
    """Conv(1,10,5) -> pool -> ReLU -> Conv(10,20,5) -> pool -> ReLU -> Linear(320,10)."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(320, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        logits: torch.Tensor = self.fc(self.dropout(x.flatten(1)))
        return logits


class InceptionA(nn.Module):
    """GoogLeNet-style block: four parallel branches concatenated to 88 channels."""

    out_channels = 16 + 24 + 24 + 24

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_2 = nn.Conv2d(16, 24, kernel_size=5, padding=2)
        self.branch3x3_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch3x3_2 = nn.Conv2d(16, 24, kernel_size=3, padding=1)
        self.branch3x3_3 = nn.Conv2d(24, 24, kernel_size=3, padding=1)
        self.branch_pool = nn.Conv2d(in_channels, 24, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3_3(self.branch3x3_2(self.branch3x3_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b5, b3, bp], dim=1)


class DigitsInception(nn.Module):
    """Conv -> pool -> ReLU -> Inception -> Conv(88,20,5) -> pool -> ReLU -> Inception -> Linear."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.incep1 = InceptionA(10)
        self.conv2 = nn.Conv2d(InceptionA.out_channels, 20, kernel_size=5)
        self.incep2 = InceptionA(20)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1408, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.incep1(F.relu(F.max_pool2d(self.conv1(x), 2)))
        x = self.incep2(F.relu(F.max_pool2d(self.conv2(x), 2)))
        logits: torch.Tensor = self.fc(self.dropout(x.flatten(1)))
        return logits


class ResidualBlock(nn.Module):
    """relu(x + conv3x3(relu(conv3x3(x)))), channel count unchanged."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


class DigitsResNet(nn.Module):
    """Conv(1,16,5) -> pool -> ReLU -> Res(16) -> Conv(16,32,5) -> pool -> ReLU -> Res(32) -> Linear."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5)
        self.res1 = ResidualBlock(16)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)
        self.res2 = ResidualBlock(32)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.res1(F.relu(F.max_pool2d(self.conv1(x), 2)))
        x = self.res2(F.relu(F.max_pool2d(self.conv2(x), 2)))
        logits: torch.Tensor = self.fc(self.dropout(x.flatten(1)))
        return logits
