// The device-side metrics table every ITrainableModel step writes: one row per step of
// GanModel.MetricsColumns (losses, D's mean outputs, gradient norms, the reconstruction loss of
// the translation and autoencoder families, then the divergence flag), written by one
// Tensor.WriteScalarRow launch so that a step never reads anything back; the Trainer copies the
// table to the host every --log-every steps.
using GpuGan.Gan.Training;
using GpuGan.Tensors;

namespace GpuGan.Gan.Models;

/// <summary>Writes and reads the rows of a step-metrics table (columns: <see cref="GanModel.MetricsColumns"/>).</summary>
public static class StepMetricsTable
{
    /// <summary>A table for <paramref name="rows"/> steps of metrics on <paramref name="device"/>; the caller disposes it.</summary>
    public static Tensor Create(Device device, int rows) => Tensor.Zeros(new Shape(rows, GanModel.MetricsColumns.Count), device).KeepAlive();

    /// <summary>
    /// Writes one step's scalars (one-element tensors; null: absent, NaN) into row <paramref name="row"/> with the divergence flag,
    /// set when d_loss, g_loss, the gradient penalty or the reconstruction loss is present and not finite. Nothing is read back.
    /// </summary>
    public static void Write(Tensor table, int row, Tensor? dLoss, Tensor? gLoss, Tensor? gradientPenalty, Tensor? dReal, Tensor? dFake,
        Tensor? gradNormD, Tensor? gradNormG, Tensor? reconstruction) =>
        Tensor.WriteScalarRow(table, row, [dLoss, gLoss, gradientPenalty, dReal, dFake, gradNormD, gradNormG, reconstruction],
            guarded: [GanModel.MetricsColumns.DLoss, GanModel.MetricsColumns.GLoss, GanModel.MetricsColumns.GradientPenalty, GanModel.MetricsColumns.Reconstruction]);

    /// <summary>The metrics of row <paramref name="row"/> of a table read back to the host (Step, Epoch and rate left for the caller).</summary>
    public static StepMetrics Read(ReadOnlySpan<float> table, int row)
    {
        var r = table.Slice(row * GanModel.MetricsColumns.Count, GanModel.MetricsColumns.Count);
        return new StepMetrics
        {
            DLoss = r[GanModel.MetricsColumns.DLoss], GLoss = r[GanModel.MetricsColumns.GLoss], DReal = r[GanModel.MetricsColumns.DReal],
            DFake = r[GanModel.MetricsColumns.DFake], GradientPenalty = r[GanModel.MetricsColumns.GradientPenalty],
            GradNormD = r[GanModel.MetricsColumns.GradNormD], GradNormG = r[GanModel.MetricsColumns.GradNormG],
            Reconstruction = r[GanModel.MetricsColumns.Reconstruction],
        };
    }

    /// <summary>Whether row <paramref name="row"/> of a table read back to the host carries the divergence flag.</summary>
    public static bool Diverged(ReadOnlySpan<float> table, int row) => table[row * GanModel.MetricsColumns.Count + GanModel.MetricsColumns.Diverged] != 0f;

    /// <summary>Runs one step that writes row 0 of a fresh one-row table, and reads that row back (one copy): for callers that want the values now.</summary>
    public static StepMetrics RunOnce(Device device, Action<Tensor, int> step)
    {
        using var table = Create(device, 1);
        step(table, 0);
        return Read(table.ToArray(), 0);
    }
}
