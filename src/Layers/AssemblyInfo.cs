using System.Runtime.CompilerServices;

// ILGPU's CPU accelerator emits its kernel wrappers into a dynamic assembly of this name; it
// needs access to the internal kernel argument structs of the optimisers (AdamArgs, …).
[assembly: InternalsVisibleTo("ILGPURuntime")]
