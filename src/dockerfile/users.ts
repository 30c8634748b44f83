/**
 * Names in `--chown` and USER resolved from the image's own /etc/passwd and /etc/group, as BuildKit does
 * (never the build machine's): `user[:group]`, names or numbers. Without a group, a user name gets its primary
 * group from passwd and a numeric user the same number as GID (BuildKit solver/llbsolver/file/user_linux.go). A name
 * that the image does not have is an error (BuildKit would quietly use 0).
 */
export interface Owner {
  uid: number;
  gid: number;
}

/** What lookups need: the text of a file in the image, or undefined when it is absent. */
export type ReadImageFile = (path: string) => Promise<string | undefined>;

function findEntry(text: string | undefined, name: string): string[] | undefined {
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 3) return fields;
  }
  return undefined;
}

const ID = /^\d+$/;

export async function resolveOwner(spec: string, read: ReadImageFile): Promise<Owner | Error> {
  const colon = spec.indexOf(':');
  const user = colon < 0 ? spec : spec.slice(0, colon);
  const group = colon < 0 ? undefined : spec.slice(colon + 1);
  if (user === '') return new Error(`invalid chown "${spec}": empty user`);
  let uid: number;
  let primary: number | undefined;
  if (ID.test(user)) uid = Number(user);
  else {
    const entry = findEntry(await read('/etc/passwd'), user);
    if (!entry) return new Error(`unable to find user ${user}: no matching entries in passwd file`);
    uid = Number(entry[2]);
    primary = Number(entry[3]);
  }
  let gid: number;
  if (group === undefined || group === '') gid = primary ?? uid;
  else if (ID.test(group)) gid = Number(group);
  else {
    const entry = findEntry(await read('/etc/group'), group);
    if (!entry) return new Error(`unable to find group ${group}: no matching entries in group file`);
    gid = Number(entry[2]);
  }
  if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid) || uid > 0x7fffffff || gid > 0x7fffffff) {
    return new Error(`invalid chown "${spec}": id out of range`);
  }
  return { uid, gid };
}
