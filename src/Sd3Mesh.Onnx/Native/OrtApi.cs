namespace Sd3Mesh.Onnx.Native;

/// <summary>
/// The entries of ONNX Runtime's <c>OrtApi</c> function table that this binding calls, read once from the
/// table of the loaded library. The table is a C struct of function pointers whose order never changes
/// between releases (new entries are appended), so entry i lives at byte offset i * sizeof(void*).
/// Each index and signature below was checked against <c>struct OrtApi</c> in
/// include/onnxruntime/core/session/onnxruntime_c_api.h (ORT_API_VERSION 30); a wrong index calls the
/// wrong function, so <c>OrtApiTableTests</c> checks several of them by behaviour.
/// Conventions: OrtStatus* is returned as nint (0 = success); size_t is nuint; C bool is byte;
/// C enums are int.
/// </summary>
internal static unsafe class OrtApi
{
    // ---- status
    public static readonly delegate* unmanaged<int, byte*, nint> CreateStatus;                  // 0
    public static readonly delegate* unmanaged<nint, int> GetErrorCode;                         // 1
    public static readonly delegate* unmanaged<nint, byte*> GetErrorMessage;                    // 2

    // ---- environment
    public static readonly delegate* unmanaged<int, byte*, nint*, nint> CreateEnv;              // 3
    public static readonly delegate* unmanaged<delegate* unmanaged<nint, int, byte*, byte*, byte*, byte*, void>, nint, int, byte*, nint*, nint>
        CreateEnvWithCustomLogger;                                                              // 4

    // ---- sessions
    public static readonly delegate* unmanaged<nint, byte*, nint, nint*, nint> CreateSession;  // 7
    public static readonly delegate* unmanaged<nint, void*, nuint, nint, nint*, nint> CreateSessionFromArray; // 8
    public static readonly delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint> Run; // 9

    // ---- session options
    public static readonly delegate* unmanaged<nint*, nint> CreateSessionOptions;               // 10
    public static readonly delegate* unmanaged<nint, byte*, nint> EnableProfiling;              // 14
    public static readonly delegate* unmanaged<nint, nint> EnableMemPattern;                    // 16
    public static readonly delegate* unmanaged<nint, nint> DisableMemPattern;                   // 17
    public static readonly delegate* unmanaged<nint, nint> EnableCpuMemArena;                   // 18
    public static readonly delegate* unmanaged<nint, nint> DisableCpuMemArena;                  // 19
    public static readonly delegate* unmanaged<nint, byte*, nint> SetSessionLogId;              // 20
    public static readonly delegate* unmanaged<nint, int, nint> SetSessionLogSeverityLevel;     // 22
    public static readonly delegate* unmanaged<nint, int, nint> SetSessionGraphOptimizationLevel; // 23
    public static readonly delegate* unmanaged<nint, int, nint> SetIntraOpNumThreads;           // 24
    public static readonly delegate* unmanaged<nint, int, nint> SetInterOpNumThreads;           // 25

    // ---- session metadata
    public static readonly delegate* unmanaged<nint, nuint*, nint> SessionGetInputCount;        // 30
    public static readonly delegate* unmanaged<nint, nuint*, nint> SessionGetOutputCount;       // 31
    public static readonly delegate* unmanaged<nint, nuint, nint*, nint> SessionGetInputTypeInfo;  // 33
    public static readonly delegate* unmanaged<nint, nuint, nint*, nint> SessionGetOutputTypeInfo; // 34
    public static readonly delegate* unmanaged<nint, nuint, nint, byte**, nint> SessionGetInputName;  // 36
    public static readonly delegate* unmanaged<nint, nuint, nint, byte**, nint> SessionGetOutputName; // 37

    // ---- run options
    public static readonly delegate* unmanaged<nint*, nint> CreateRunOptions;                   // 39
    public static readonly delegate* unmanaged<nint, int, nint> RunOptionsSetRunLogSeverityLevel; // 41
    public static readonly delegate* unmanaged<nint, byte*, nint> RunOptionsSetRunTag;          // 42
    public static readonly delegate* unmanaged<nint, byte**, nint> RunOptionsGetRunTag;         // 45
    public static readonly delegate* unmanaged<nint, nint> RunOptionsSetTerminate;              // 46
    public static readonly delegate* unmanaged<nint, nint> RunOptionsUnsetTerminate;            // 47

    // ---- values
    public static readonly delegate* unmanaged<nint, long*, nuint, int, nint*, nint> CreateTensorAsOrtValue; // 48
    public static readonly delegate* unmanaged<nint, void*, nuint, long*, nuint, int, nint*, nint> CreateTensorWithDataAsOrtValue; // 49
    public static readonly delegate* unmanaged<nint, int*, nint> IsTensor;                      // 50
    public static readonly delegate* unmanaged<nint, void**, nint> GetTensorMutableData;        // 51

    // ---- type and shape info
    public static readonly delegate* unmanaged<nint, nint*, nint> CastTypeInfoToTensorInfo;     // 55 (result owned by the type info)
    public static readonly delegate* unmanaged<nint, int*, nint> GetOnnxTypeFromTypeInfo;       // 56
    public static readonly delegate* unmanaged<nint, int*, nint> GetTensorElementType;          // 60
    public static readonly delegate* unmanaged<nint, nuint*, nint> GetDimensionsCount;          // 61
    public static readonly delegate* unmanaged<nint, long*, nuint, nint> GetDimensions;         // 62
    public static readonly delegate* unmanaged<nint, byte**, nuint, nint> GetSymbolicDimensions; // 63
    public static readonly delegate* unmanaged<nint, nuint*, nint> GetTensorShapeElementCount;  // 64
    public static readonly delegate* unmanaged<nint, nint*, nint> GetTensorTypeAndShape;        // 65
    public static readonly delegate* unmanaged<nint, int*, nint> GetValueType;                  // 67

    // ---- memory info and allocators
    public static readonly delegate* unmanaged<byte*, int, int, int, nint*, nint> CreateMemoryInfo; // 68
    public static readonly delegate* unmanaged<int, int, nint*, nint> CreateCpuMemoryInfo;      // 69
    public static readonly delegate* unmanaged<nint, byte**, nint> MemoryInfoGetName;           // 71
    public static readonly delegate* unmanaged<nint, int*, nint> MemoryInfoGetId;               // 72
    public static readonly delegate* unmanaged<nint, void*, nint> AllocatorFree;                // 76
    public static readonly delegate* unmanaged<nint*, nint> GetAllocatorWithDefaultOptions;     // 78
    public static readonly delegate* unmanaged<nint, byte*, long, nint> AddFreeDimensionOverride; // 79 (by denotation)

    // ---- releases
    public static readonly delegate* unmanaged<nint, void> ReleaseEnv;                          // 92
    public static readonly delegate* unmanaged<nint, void> ReleaseStatus;                       // 93
    public static readonly delegate* unmanaged<nint, void> ReleaseMemoryInfo;                   // 94
    public static readonly delegate* unmanaged<nint, void> ReleaseSession;                      // 95
    public static readonly delegate* unmanaged<nint, void> ReleaseValue;                        // 96
    public static readonly delegate* unmanaged<nint, void> ReleaseRunOptions;                   // 97
    public static readonly delegate* unmanaged<nint, void> ReleaseTypeInfo;                     // 98
    public static readonly delegate* unmanaged<nint, void> ReleaseTensorTypeAndShapeInfo;       // 99
    public static readonly delegate* unmanaged<nint, void> ReleaseSessionOptions;               // 100

    // ---- profiling, overrides, providers, config
    public static readonly delegate* unmanaged<nint, nint, byte**, nint> SessionEndProfiling;   // 110
    public static readonly delegate* unmanaged<nint, byte*, long, nint> AddFreeDimensionOverrideByName; // 124
    public static readonly delegate* unmanaged<byte***, int*, nint> GetAvailableProviders;      // 125
    public static readonly delegate* unmanaged<byte**, int, nint> ReleaseAvailableProviders;    // 126
    public static readonly delegate* unmanaged<nint, byte*, byte*, nint> AddSessionConfigEntry; // 130
    public static readonly delegate* unmanaged<nint, byte*, byte*, nint> AddRunConfigEntry;     // 165

    // ---- IoBinding
    public static readonly delegate* unmanaged<nint, nint, nint, nint> RunWithBinding;          // 133
    public static readonly delegate* unmanaged<nint, nint*, nint> CreateIoBinding;              // 134
    public static readonly delegate* unmanaged<nint, void> ReleaseIoBinding;                    // 135
    public static readonly delegate* unmanaged<nint, byte*, nint, nint> BindInput;              // 136
    public static readonly delegate* unmanaged<nint, byte*, nint, nint> BindOutput;             // 137
    public static readonly delegate* unmanaged<nint, byte*, nint, nint> BindOutputToDevice;     // 138
    public static readonly delegate* unmanaged<nint, nint, byte**, nuint**, nuint*, nint> GetBoundOutputNames; // 139
    public static readonly delegate* unmanaged<nint, nint, nint**, nuint*, nint> GetBoundOutputValues; // 140
    public static readonly delegate* unmanaged<nint, void> ClearBoundInputs;                    // 141
    public static readonly delegate* unmanaged<nint, void> ClearBoundOutputs;                   // 142

    // ---- device memory, execution providers
    public static readonly delegate* unmanaged<nint, nint*, nint> GetTensorMemoryInfo;          // 194
    public static readonly delegate* unmanaged<nint, nint> SynchronizeBoundInputs;              // 202
    public static readonly delegate* unmanaged<nint, nint> SynchronizeBoundOutputs;             // 203
    public static readonly delegate* unmanaged<nint, nint, nint> SessionOptionsAppendExecutionProvider_CUDA_V2; // 204
    public static readonly delegate* unmanaged<nint*, nint> CreateCUDAProviderOptions;          // 205
    public static readonly delegate* unmanaged<nint, byte**, byte**, nuint, nint> UpdateCUDAProviderOptions; // 206
    public static readonly delegate* unmanaged<nint, void> ReleaseCUDAProviderOptions;          // 208
    public static readonly delegate* unmanaged<nint, byte*, byte**, byte**, nuint, nint> SessionOptionsAppendExecutionProvider; // 216
    public static readonly delegate* unmanaged<nint, int*, void> MemoryInfoGetDeviceType;       // 225
    public static readonly delegate* unmanaged<nint, int, nint> UpdateEnvWithCustomLogLevel;    // 226
    public static readonly delegate* unmanaged<byte*> GetBuildInfoString;                       // 254

    // ---- key-value pairs and EP devices (1.22)
    public static readonly delegate* unmanaged<nint, byte***, byte***, nuint*, void> GetKeyValuePairs; // 298
    public static readonly delegate* unmanaged<nint, nint**, nuint*, nint> GetEpDevices;       // 303
    public static readonly delegate* unmanaged<nint, int> HardwareDevice_Type;                  // 307
    public static readonly delegate* unmanaged<nint, uint> HardwareDevice_VendorId;             // 308
    public static readonly delegate* unmanaged<nint, byte*> HardwareDevice_Vendor;              // 309
    public static readonly delegate* unmanaged<nint, uint> HardwareDevice_DeviceId;             // 310
    public static readonly delegate* unmanaged<nint, nint> HardwareDevice_Metadata;             // 311
    public static readonly delegate* unmanaged<nint, byte*> EpDevice_EpName;                    // 312
    public static readonly delegate* unmanaged<nint, byte*> EpDevice_EpVendor;                  // 313
    public static readonly delegate* unmanaged<nint, nint> EpDevice_EpMetadata;                 // 314
    public static readonly delegate* unmanaged<nint, nint> EpDevice_EpOptions;                  // 315
    public static readonly delegate* unmanaged<nint, nint> EpDevice_Device;                     // 316

    // ---- 1.23 additions (after the table in ort-c-api-order.txt; counted in the 1.30 header)
    public static readonly delegate* unmanaged<nint, nuint*, nint> GetTensorSizeInBytes;        // 318
    public static readonly delegate* unmanaged<nint, byte*, byte*> GetRunConfigEntry;           // 373

    static OrtApi()
    {
        nint* t = (nint*)OrtLibrary.Shared.ApiTable;
        CreateStatus = (delegate* unmanaged<int, byte*, nint>)t[0];
        GetErrorCode = (delegate* unmanaged<nint, int>)t[1];
        GetErrorMessage = (delegate* unmanaged<nint, byte*>)t[2];
        CreateEnv = (delegate* unmanaged<int, byte*, nint*, nint>)t[3];
        CreateEnvWithCustomLogger = (delegate* unmanaged<delegate* unmanaged<nint, int, byte*, byte*, byte*, byte*, void>, nint, int, byte*, nint*, nint>)t[4];
        CreateSession = (delegate* unmanaged<nint, byte*, nint, nint*, nint>)t[7];
        CreateSessionFromArray = (delegate* unmanaged<nint, void*, nuint, nint, nint*, nint>)t[8];
        Run = (delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint>)t[9];
        CreateSessionOptions = (delegate* unmanaged<nint*, nint>)t[10];
        EnableProfiling = (delegate* unmanaged<nint, byte*, nint>)t[14];
        EnableMemPattern = (delegate* unmanaged<nint, nint>)t[16];
        DisableMemPattern = (delegate* unmanaged<nint, nint>)t[17];
        EnableCpuMemArena = (delegate* unmanaged<nint, nint>)t[18];
        DisableCpuMemArena = (delegate* unmanaged<nint, nint>)t[19];
        SetSessionLogId = (delegate* unmanaged<nint, byte*, nint>)t[20];
        SetSessionLogSeverityLevel = (delegate* unmanaged<nint, int, nint>)t[22];
        SetSessionGraphOptimizationLevel = (delegate* unmanaged<nint, int, nint>)t[23];
        SetIntraOpNumThreads = (delegate* unmanaged<nint, int, nint>)t[24];
        SetInterOpNumThreads = (delegate* unmanaged<nint, int, nint>)t[25];
        SessionGetInputCount = (delegate* unmanaged<nint, nuint*, nint>)t[30];
        SessionGetOutputCount = (delegate* unmanaged<nint, nuint*, nint>)t[31];
        SessionGetInputTypeInfo = (delegate* unmanaged<nint, nuint, nint*, nint>)t[33];
        SessionGetOutputTypeInfo = (delegate* unmanaged<nint, nuint, nint*, nint>)t[34];
        SessionGetInputName = (delegate* unmanaged<nint, nuint, nint, byte**, nint>)t[36];
        SessionGetOutputName = (delegate* unmanaged<nint, nuint, nint, byte**, nint>)t[37];
        CreateRunOptions = (delegate* unmanaged<nint*, nint>)t[39];
        RunOptionsSetRunLogSeverityLevel = (delegate* unmanaged<nint, int, nint>)t[41];
        RunOptionsSetRunTag = (delegate* unmanaged<nint, byte*, nint>)t[42];
        RunOptionsGetRunTag = (delegate* unmanaged<nint, byte**, nint>)t[45];
        RunOptionsSetTerminate = (delegate* unmanaged<nint, nint>)t[46];
        RunOptionsUnsetTerminate = (delegate* unmanaged<nint, nint>)t[47];
        CreateTensorAsOrtValue = (delegate* unmanaged<nint, long*, nuint, int, nint*, nint>)t[48];
        CreateTensorWithDataAsOrtValue = (delegate* unmanaged<nint, void*, nuint, long*, nuint, int, nint*, nint>)t[49];
        IsTensor = (delegate* unmanaged<nint, int*, nint>)t[50];
        GetTensorMutableData = (delegate* unmanaged<nint, void**, nint>)t[51];
        CastTypeInfoToTensorInfo = (delegate* unmanaged<nint, nint*, nint>)t[55];
        GetOnnxTypeFromTypeInfo = (delegate* unmanaged<nint, int*, nint>)t[56];
        GetTensorElementType = (delegate* unmanaged<nint, int*, nint>)t[60];
        GetDimensionsCount = (delegate* unmanaged<nint, nuint*, nint>)t[61];
        GetDimensions = (delegate* unmanaged<nint, long*, nuint, nint>)t[62];
        GetSymbolicDimensions = (delegate* unmanaged<nint, byte**, nuint, nint>)t[63];
        GetTensorShapeElementCount = (delegate* unmanaged<nint, nuint*, nint>)t[64];
        GetTensorTypeAndShape = (delegate* unmanaged<nint, nint*, nint>)t[65];
        GetValueType = (delegate* unmanaged<nint, int*, nint>)t[67];
        CreateMemoryInfo = (delegate* unmanaged<byte*, int, int, int, nint*, nint>)t[68];
        CreateCpuMemoryInfo = (delegate* unmanaged<int, int, nint*, nint>)t[69];
        MemoryInfoGetName = (delegate* unmanaged<nint, byte**, nint>)t[71];
        MemoryInfoGetId = (delegate* unmanaged<nint, int*, nint>)t[72];
        AllocatorFree = (delegate* unmanaged<nint, void*, nint>)t[76];
        GetAllocatorWithDefaultOptions = (delegate* unmanaged<nint*, nint>)t[78];
        AddFreeDimensionOverride = (delegate* unmanaged<nint, byte*, long, nint>)t[79];
        ReleaseEnv = (delegate* unmanaged<nint, void>)t[92];
        ReleaseStatus = (delegate* unmanaged<nint, void>)t[93];
        ReleaseMemoryInfo = (delegate* unmanaged<nint, void>)t[94];
        ReleaseSession = (delegate* unmanaged<nint, void>)t[95];
        ReleaseValue = (delegate* unmanaged<nint, void>)t[96];
        ReleaseRunOptions = (delegate* unmanaged<nint, void>)t[97];
        ReleaseTypeInfo = (delegate* unmanaged<nint, void>)t[98];
        ReleaseTensorTypeAndShapeInfo = (delegate* unmanaged<nint, void>)t[99];
        ReleaseSessionOptions = (delegate* unmanaged<nint, void>)t[100];
        SessionEndProfiling = (delegate* unmanaged<nint, nint, byte**, nint>)t[110];
        AddFreeDimensionOverrideByName = (delegate* unmanaged<nint, byte*, long, nint>)t[124];
        GetAvailableProviders = (delegate* unmanaged<byte***, int*, nint>)t[125];
        ReleaseAvailableProviders = (delegate* unmanaged<byte**, int, nint>)t[126];
        AddSessionConfigEntry = (delegate* unmanaged<nint, byte*, byte*, nint>)t[130];
        AddRunConfigEntry = (delegate* unmanaged<nint, byte*, byte*, nint>)t[165];
        RunWithBinding = (delegate* unmanaged<nint, nint, nint, nint>)t[133];
        CreateIoBinding = (delegate* unmanaged<nint, nint*, nint>)t[134];
        ReleaseIoBinding = (delegate* unmanaged<nint, void>)t[135];
        BindInput = (delegate* unmanaged<nint, byte*, nint, nint>)t[136];
        BindOutput = (delegate* unmanaged<nint, byte*, nint, nint>)t[137];
        BindOutputToDevice = (delegate* unmanaged<nint, byte*, nint, nint>)t[138];
        GetBoundOutputNames = (delegate* unmanaged<nint, nint, byte**, nuint**, nuint*, nint>)t[139];
        GetBoundOutputValues = (delegate* unmanaged<nint, nint, nint**, nuint*, nint>)t[140];
        ClearBoundInputs = (delegate* unmanaged<nint, void>)t[141];
        ClearBoundOutputs = (delegate* unmanaged<nint, void>)t[142];
        GetTensorMemoryInfo = (delegate* unmanaged<nint, nint*, nint>)t[194];
        SynchronizeBoundInputs = (delegate* unmanaged<nint, nint>)t[202];
        SynchronizeBoundOutputs = (delegate* unmanaged<nint, nint>)t[203];
        SessionOptionsAppendExecutionProvider_CUDA_V2 = (delegate* unmanaged<nint, nint, nint>)t[204];
        CreateCUDAProviderOptions = (delegate* unmanaged<nint*, nint>)t[205];
        UpdateCUDAProviderOptions = (delegate* unmanaged<nint, byte**, byte**, nuint, nint>)t[206];
        ReleaseCUDAProviderOptions = (delegate* unmanaged<nint, void>)t[208];
        SessionOptionsAppendExecutionProvider = (delegate* unmanaged<nint, byte*, byte**, byte**, nuint, nint>)t[216];
        MemoryInfoGetDeviceType = (delegate* unmanaged<nint, int*, void>)t[225];
        UpdateEnvWithCustomLogLevel = (delegate* unmanaged<nint, int, nint>)t[226];
        GetBuildInfoString = (delegate* unmanaged<byte*>)t[254];
        GetKeyValuePairs = (delegate* unmanaged<nint, byte***, byte***, nuint*, void>)t[298];
        GetEpDevices = (delegate* unmanaged<nint, nint**, nuint*, nint>)t[303];
        HardwareDevice_Type = (delegate* unmanaged<nint, int>)t[307];
        HardwareDevice_VendorId = (delegate* unmanaged<nint, uint>)t[308];
        HardwareDevice_Vendor = (delegate* unmanaged<nint, byte*>)t[309];
        HardwareDevice_DeviceId = (delegate* unmanaged<nint, uint>)t[310];
        HardwareDevice_Metadata = (delegate* unmanaged<nint, nint>)t[311];
        EpDevice_EpName = (delegate* unmanaged<nint, byte*>)t[312];
        EpDevice_EpVendor = (delegate* unmanaged<nint, byte*>)t[313];
        EpDevice_EpMetadata = (delegate* unmanaged<nint, nint>)t[314];
        EpDevice_EpOptions = (delegate* unmanaged<nint, nint>)t[315];
        EpDevice_Device = (delegate* unmanaged<nint, nint>)t[316];
        GetTensorSizeInBytes = (delegate* unmanaged<nint, nuint*, nint>)t[318];
        GetRunConfigEntry = (delegate* unmanaged<nint, byte*, byte*>)t[373];
    }
}
