import { Type } from 'typebox';

export const Email = Type.String({ title: 'Email', maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$', errorMessage: 'Enter a valid email address' });
export const Password = Type.String({ title: 'Password', minLength: 10, maxLength: 200, errorMessage: 'Use at least 10 characters (at most 200)' });
export const PersonName = Type.String({ title: 'Name', minLength: 1, maxLength: 120 });
const Checkbox = Type.Optional(Type.Union([Type.Literal('on'), Type.Literal('true'), Type.Literal('1')]));

export const SetupForm = Type.Object({ name: PersonName, email: Email, password: Password });
export const LoginForm = Type.Object({
  email: Type.String({ title: 'Email', minLength: 1, maxLength: 254 }),
  password: Type.String({ title: 'Password', minLength: 1, maxLength: 200 }),
  next: Type.Optional(Type.String({ maxLength: 2000 })),
});
export const InviteForm = Type.Object({ password: Password });
export const UserCreateForm = Type.Object({
  name: PersonName,
  email: Email,
  password: Type.Optional(Password),
  isAdmin: Checkbox,
});
export const UserUpdateForm = Type.Object({ name: PersonName, isAdmin: Checkbox });
export const PasswordResetForm = Type.Object({ password: Type.Optional(Password) });
export const OwnPasswordForm = Type.Object({
  currentPassword: Type.String({ title: 'Current password', minLength: 1, maxLength: 200 }),
  password: Password,
});

/** Only same-site paths may be redirect targets after login. */
export function safeNext(next: string | undefined): string {
  // Browsers drop tabs and newlines from URLs and read `\` as `/`, so `/\t/evil` means `//evil`.
  // Remove what they would ignore, resolve against a stand-in origin of our own, and accept only
  // a path that stays on it; the redirect then carries the re-serialised (encoded) path.
  const fallback = '/projects';
  if (!next) return fallback;
  const cleaned = next.replace(/[\u0000-\u001f\u007f]/g, '');
  if (!cleaned.startsWith('/')) return fallback;
  const origin = 'http://tasklane.invalid';
  let url: URL;
  try {
    url = new URL(cleaned, origin);
  } catch {
    return fallback;
  }
  if (url.origin !== origin || /^[/\\]{2}/.test(cleaned)) return fallback;
  return `${url.pathname}${url.search}${url.hash}`;
}
