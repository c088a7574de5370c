using System.Runtime.CompilerServices;

// ILGPU's CPU accelerator emits its kernel wrappers into a dynamic assembly of this name; it
// needs access to our internal kernel parameter structs (Broadcast4, Reduce4, …).
[assembly: InternalsVisibleTo("ILGPURuntime")]
