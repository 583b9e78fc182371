using Sd3Mesh.Server.Jobs.Storage;

namespace Sd3Mesh.Server.Tests.Storage;

public sealed class DirectorySyncTests
{
    [Fact]
    public void Flushes_a_folder_and_names_one_it_cannot_open_with_its_errno()
    {
        var folder = Directory.CreateTempSubdirectory("sd3mesh-sync-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "a.png"), "x");
            DirectorySync.Flush(folder);

            string missing = Path.Combine(folder, "gone");
            var e = Assert.Throws<IOException>(() => DirectorySync.Flush(missing));
            Assert.Equal($"cannot open the folder {missing} to flush it (errno 2)", e.Message); // ENOENT
            var file = Assert.Throws<IOException>(() => DirectorySync.Flush(Path.Combine(folder, "a.png")));
            Assert.EndsWith("(errno 20)", file.Message); // ENOTDIR: O_DIRECTORY refuses a file
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
