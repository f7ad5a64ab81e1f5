"""What the lab report (shared/reference) published: the numbers every comparison is made against."""

# epoch -> (test loss, test accuracy), as printed by the report's `epoch:{}, loss:{:.4f}, acc:{:.4f}`.
LAB_REPORT_POINTS: dict[int, tuple[float, float]] = {0: (1.4298, 0.4460), 5: (0.0626, 0.9814), 29: (0.0421, 0.9885)}
LAB_REPORT_FINAL_ACC = LAB_REPORT_POINTS[29][1]
